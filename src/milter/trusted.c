/*
 * trusted - CIDR matching of client addresses against milter.trusted_networks.
 *
 * Every network is kept as 16 bytes plus a prefix length; IPv4 networks and addresses are held
 * in their IPv4-mapped IPv6 form (::ffff:a.b.c.d, prefix + 96), so one comparison serves both
 * families and a v4-mapped client matches a v4 network. Immutable after parse: thread-safe.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "milter/trusted.h"
#include "util/util.h"

struct net {
    unsigned char addr[16];
    int prefix; /* 0..128, in the mapped space */
};

struct trusted {
    struct net *nets;
    size_t n;
};

/* map_v4 - write the IPv4-mapped IPv6 form of the 4 bytes V4 into OUT */
static void map_v4(const unsigned char *v4, unsigned char out[16])
{
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, v4, 4);
}

/* parse_addr - text address into the mapped 16-byte form; *bits 32 or 128; false when invalid */
static bool parse_addr(const char *text, unsigned char out[16], int *bits)
{
    unsigned char v4[4];

    if (strchr(text, ':') == NULL) {
        if (inet_pton(AF_INET, text, v4) != 1)
            return false;
        map_v4(v4, out);
        *bits = 32;
        return true;
    }
    if (inet_pton(AF_INET6, text, out) != 1)
        return false;
    *bits = 128;
    return true;
}

/* prefix_match - do the first PREFIX bits of A and B agree? */
static bool prefix_match(const unsigned char *a, const unsigned char *b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));

    return (a[full] & mask) == (b[full] & mask);
}

/* trusted_parse - compile the list of CIDR strings */
int trusted_parse(const struct conf_strlist *nets, struct trusted **out, char **err)
{
    struct trusted *t = xcalloc(1, sizeof(*t));

    *out = NULL;
    t->nets = xcalloc(nets->count ? nets->count : 1, sizeof(*t->nets));
    for (size_t i = 0; i < nets->count; i++) {
        const char *v = nets->items[i], *slash = strchr(v, '/');
        char *host = slash ? xstrndup(v, (size_t)(slash - v)) : xstrdup(v);
        int bits, prefix;
        bool ok = parse_addr(host, t->nets[i].addr, &bits);
        char *end = NULL;

        free(host);
        prefix = bits;
        if (ok && slash) {
            long p = strtol(slash + 1, &end, 10);

            ok = slash[1] != '\0' && *end == '\0' && p >= 0 && p <= bits;
            prefix = (int)p;
        }
        if (!ok) {
            trusted_free(t);
            return set_err(err, "milter.trusted_networks: \"%s\" is not a network: write "
                           "ADDRESS/PREFIX such as \"192.0.2.0/24\" or \"2001:db8::/32\"", v);
        }
        t->nets[i].prefix = bits == 32 ? prefix + 96 : prefix;
        t->n++;
    }
    *out = t;
    return 0;
}

void trusted_free(struct trusted *t)
{
    if (t == NULL)
        return;
    free(t->nets);
    free(t);
}

/* match_mapped - is the 16-byte mapped address A in one of the networks? */
static bool match_mapped(const struct trusted *t, const unsigned char a[16])
{
    for (size_t i = 0; i < t->n; i++)
        if (prefix_match(a, t->nets[i].addr, t->nets[i].prefix))
            return true;
    return false;
}

/* trusted_match - match a socket address (AF_INET, AF_INET6; anything else is not trusted) */
bool trusted_match(const struct trusted *t, const struct sockaddr *sa)
{
    unsigned char a[16];

    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;

        map_v4((const unsigned char *)&s4->sin_addr, a);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

        memcpy(a, &s6->sin6_addr, 16);
    } else {
        return false;
    }
    return match_mapped(t, a);
}

/* trusted_match_text - match an address written as text */
bool trusted_match_text(const struct trusted *t, const char *addr)
{
    unsigned char a[16];
    int bits;

    return parse_addr(addr, a, &bits) && match_mapped(t, a);
}
