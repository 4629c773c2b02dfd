/*
 * ctl_config - byosmtpctl config: the byosmtp.conf settings in effect, one "NAME = VALUE" line
 * each, like postconf(1): every setting (the file over the compiled-in defaults), -n only those
 * the file sets, -d the compiled-in defaults; NAME... picks settings or whole groups
 * ("delivery.retry"). It walks the table of settings (conf_setting_name), so a setting added
 * there appears here without a change. Values are in byosmtp.conf syntax; no setting holds a
 * secret itself (secrets live in files, and a setting that names one prints the path).
 */
#include "config.h"

#include <getopt.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "util/msg.h"
#include "util/util.h"

#define CONFIG_USAGE "byosmtpctl config [-n | -d] [NAME...]"

/* selects - NAME is picked by the argument SEL: the same name, or a group that holds it */
static bool selects(const char *sel, const char *name)
{
    size_t n = strlen(sel);

    return strncmp(name, sel, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

/* picked - NAME is to be printed: no argument given, or one of ARGV[0..ARGC) selects it */
static bool picked(int argc, char **argv, const char *name)
{
    if (argc == 0)
        return true;
    for (int i = 0; i < argc; i++)
        if (selects(argv[i], name))
            return true;
    return false;
}

/* read_file - FILE into *cfg with libconfig (an @include relative to FILE, as conf_load does) */
static int read_file(const char *file, config_t *cfg)
{
    char *dir = xstrdup(file), *slash = strrchr(dir, '/');
    int r = 0;

    config_init(cfg);
    if (slash) {
        slash[slash == dir ? 1 : 0] = '\0';
        config_set_include_dir(cfg, dir);
    }
    if (config_read_file(cfg, file) != CONFIG_TRUE) {
        msg_error("%s:%d: %s: fix it, then run byosmtpctl config again", file,
                  config_error_line(cfg), config_error_text(cfg));
        r = -1;
    }
    free(dir);
    return r;
}

/* print_settings - "NAME = VALUE" for every picked setting of C (with FILE: only those it sets) */
static void print_settings(const struct byosmtp_conf *c, config_t *file, int argc, char **argv)
{
    const char *name;

    for (size_t i = 0; (name = conf_setting_name(i)) != NULL; i++) {
        char *value;

        if (!picked(argc, argv, name) || (file && config_lookup(file, name) == NULL))
            continue;
        value = conf_format_value(c, name);
        printf("%s = %s\n", name, value);
        free(value);
    }
}

/* unknown_names - complain about each argument that names no setting and no group; their number */
static int unknown_names(int argc, char **argv)
{
    int bad = 0;

    for (int i = 0; i < argc; i++) {
        const char *name;
        bool found = false;

        for (size_t j = 0; !found && (name = conf_setting_name(j)) != NULL; j++)
            found = selects(argv[i], name);
        if (!found) {
            msg_error("'%s' is no setting of byosmtp.conf: 'byosmtpctl config' lists them all "
                      "(byosmtp.conf(5) describes them)",
                      argv[i]);
            bad++;
        }
    }
    return bad;
}

int ctl_cmd_config(struct ctl *ctl, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool only_set = false, defaults = false;
    struct byosmtp_conf *shown = ctl->conf;
    config_t cfg;
    int opt, bad;

    while ((opt = getopt_long(argc, argv, "ndh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            only_set = true;
            break;
        case 'd':
            defaults = true;
            break;
        case 'h':
            printf("usage: %s\n", CONFIG_USAGE);
            return CTL_OK;
        default:
            return ctl_usage(CONFIG_USAGE);
        }
    }
    if (only_set && defaults)
        return ctl_usage(CONFIG_USAGE " (-n and -d exclude each other)");
    argc -= optind;
    argv += optind;
    bad = unknown_names(argc, argv);
    if (defaults) {
        shown = conf_defaults();
        print_settings(shown, NULL, argc, argv);
        conf_unref(shown);
    } else if (only_set) {
        /* without a file ("(defaults)", conf.h) nothing is set */
        if (strcmp(shown->file, "(defaults)") != 0) {
            if (read_file(shown->file, &cfg) < 0) {
                config_destroy(&cfg);
                return CTL_ERROR;
            }
            print_settings(shown, &cfg, argc, argv);
            config_destroy(&cfg);
        }
    } else {
        print_settings(shown, NULL, argc, argv);
    }
    return bad ? CTL_ERROR : CTL_OK;
}
