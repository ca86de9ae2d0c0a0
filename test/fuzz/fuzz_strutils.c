// SPDX-License-Identifier: GPL-2.0-or-later
/* fuzz_strutils - address, size and pid parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strutils.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t v;
	pid_t p;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)parse_u64(s, &v);
	if (!parse_pid(s, &p) && (p < 1 || p > 4194304))
		abort();	/* a pid it accepts is a pid the kernel can have */
	free(s);
	return 0;
}
