/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Common includes for the cmocka unit tests. */
#ifndef PGCLONE_UNIT_H
#define PGCLONE_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "pgcloneP.h"

/* Parse an smaps/maps text into @list (via fmemopen). */
static inline int parse_text(const char *text, struct pgc_vma_list *list)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	memset(list, 0, sizeof(*list));
	ret = pgc_maps_parse_stream(f, list);
	fclose(f);
	return ret;
}

#endif
