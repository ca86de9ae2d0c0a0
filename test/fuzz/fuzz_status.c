// SPDX-License-Identifier: LGPL-2.1-or-later
/* fuzz_status - /proc/PID/status parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgcloneP.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct pgc_status st;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)pgc_status_parse(s, &st);
	free(s);
	return 0;
}
