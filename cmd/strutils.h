/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PGCLONE_STRUTILS_H
#define PGCLONE_STRUTILS_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Parse an address or size: decimal or 0x-hex, with an optional binary
 * suffix K, M, G, T, which may be followed by B or iB, in either case
 * (4k, 4K, 4kb, 4KiB: all 4096).  Returns 0, or -EINVAL for
 * malformed input and -ERANGE for values that do not fit in 64 bits.
 */
int parse_u64(const char *s, uint64_t *out);
/* A positive pid that fits pid_t. */
int parse_pid(const char *s, pid_t *out);

#endif
