/*
 * target_int - what the files of the target module share and nobody else needs: the one way a
 * value is quoted in a message. Functions on caller-owned data: thread-safe.
 */
#ifndef BYOSMTP_TARGET_INT_H
#define BYOSMTP_TARGET_INT_H

#include "store/target.h"

/* target_shown - a copy of S that is safe to put in a message: controls escaped, ~100 bytes */
char *target_shown(const char *s);

#endif
