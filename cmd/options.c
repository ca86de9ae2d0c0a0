// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * options.c - what every command does with its options the same way:
 * name an option by its name (never by its value), refuse a second value
 * for a single-valued option, cut what the user typed to a length one
 * error line can carry, and parse the values that mean the same thing in
 * every command (--src, --dst).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "strutils.h"

#define CLIP_MAX 64

const char *clip(const char *s)
{
	/* a few at once: one error line may quote two values */
	static char buf[4][CLIP_MAX + sizeof("...")];
	static unsigned int next;
	char *b;

	if (!s || strlen(s) <= CLIP_MAX)
		return s;
	b = buf[next++ % 4];
	memcpy(b, s, CLIP_MAX);
	strcpy(b + CLIP_MAX, "...");
	return b;
}

const char *option_name(const struct option *longopts, int c)
{
	static char buf[2][64];
	static unsigned int next;
	char *b = buf[next++ % 2];

	for (const struct option *o = longopts; o->name; o++)
		if (o->val == c && !o->flag) {
			snprintf(b, sizeof(buf[0]), "--%s", o->name);
			return b;
		}
	snprintf(b, sizeof(buf[0]), "-%c", c > 32 && c < 127 ? c : '?');
	return b;
}

int option_once(const struct option *longopts, int c,
		const char *seen[OPT_SEEN_MAX])
{
	const struct option *o;

	for (o = longopts; o->name; o++)
		if (o->val == c && !o->flag)
			break;
	/* flags may repeat (-v counts); a value given twice is a typo */
	if (!o->name || o->has_arg != required_argument || c < 0 ||
	    c >= OPT_SEEN_MAX)
		return 0;
	if (seen[c])
		return errx_usage("%s given twice ('%s', then '%s'): give it once",
				  option_name(longopts, c), clip(seen[c]), clip(optarg));
	seen[c] = optarg;
	return 0;
}

int dst_option(const char *arg, bool image_default, struct dst_arg *d)
{
	uint64_t v;
	int ret;

	if (!strcmp(arg, "auto")) {	/* the library picks (PGCLONE_DST_AUTO) */
		d->addr = 0;
		d->automatic = true;
		d->given = true;
		return 0;
	}
	ret = parse_u64(arg, &v);

	/* one meaning everywhere: 0 is no address (nothing can be mapped there) */
	if (!ret && !v)
		return errx_usage("--dst 0: address 0 cannot be mapped%s",
				  image_default ? "; omit --dst to restore at the image's own addresses" : "");
	if (ret == -ERANGE)
		return errx_usage("--dst '%s': value out of range", clip(arg));
	if (ret)
		return errx_usage("--dst '%s': not an address (use decimal or 0x-hex, optional K/M/G/T)",
				  clip(arg));
	d->addr = v;
	d->automatic = false;
	d->given = true;
	return 0;
}

int src_option(const char *arg, struct src_arg *s)
{
	s->given = true;
	/* the names /proc/PID/maps shows: [heap], [stack], [anon:x], /path */
	if (arg[0] == '[' || arg[0] == '/') {
		s->name = arg;
		return 0;
	}
	s->name = NULL;
	return number_option("--src", arg, &s->addr);
}

int track_method_option(const char *arg, enum pgclone_track_method *how)
{
	if (!strcmp(arg, "auto"))
		*how = PGCLONE_TRACK_AUTO;
	else if (!strcmp(arg, "soft-dirty"))
		*how = PGCLONE_TRACK_SOFT_DIRTY;
	else if (!strcmp(arg, "uffd-wp"))
		*how = PGCLONE_TRACK_UFFD_WP;
	else
		return errx_usage("--track-method '%s': use auto, soft-dirty or uffd-wp", clip(arg));
	return 0;
}

int engine_option(const char *arg, enum pgclone_engine *engine)
{
	if (!strcmp(arg, "auto"))
		*engine = PGCLONE_ENGINE_AUTO;
	else if (!strcmp(arg, "kernel"))
		*engine = PGCLONE_ENGINE_KERNEL;
	else if (!strcmp(arg, "copy"))
		*engine = PGCLONE_ENGINE_COPY;
	else
		return errx_usage("--engine '%s': use auto, kernel or copy", clip(arg));
	return 0;
}
