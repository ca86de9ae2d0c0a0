// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * strutils.c - parse the numbers operators type: addresses and sizes.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "strutils.h"

static int suffix_shift(const char *s, unsigned int *shift)
{
	static const char units[] = "KMGT";
	const char *u;

	if (!*s) {
		*shift = 0;
		return 0;
	}
	u = strchr(units, toupper((unsigned char)*s));
	if (!u || !*u)
		return -EINVAL;
	*shift = 10 * (unsigned int)(u - units + 1);
	s++;
	/*
	 * Either case throughout, as pgclone(1) says: 1m, 1M, 1mb, 1MiB are
	 * all 1048576.  Always powers of 1024 (unlike util-linux's KB=1000):
	 * addresses and lengths here are counted in pages.
	 */
	if (!*s || !strcasecmp(s, "iB") || !strcasecmp(s, "B"))
		return 0;
	return -EINVAL;
}

int parse_u64(const char *s, uint64_t *out)
{
	unsigned int base = 10, shift;
	uint64_t v = 0;
	const char *p = s;
	int digits = 0;

	if (!s || !*s)
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; *p; p++, digits++) {
		unsigned int d;

		if (isdigit((unsigned char)*p))
			d = (unsigned int)(*p - '0');
		else if (base == 16 && isxdigit((unsigned char)*p))
			d = (unsigned int)(tolower((unsigned char)*p) - 'a' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (!digits || suffix_shift(p, &shift))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int parse_pid(const char *s, pid_t *out)
{
	uint64_t v;
	const char *p;

	if (!s || !*s)
		return -EINVAL;
	for (p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
	if (parse_u64(s, &v))
		return -EINVAL;
	if (v == 0 || v > 4194304)	/* PID_MAX_LIMIT on 64-bit */
		return -ERANGE;
	*out = (pid_t)v;
	return 0;
}
