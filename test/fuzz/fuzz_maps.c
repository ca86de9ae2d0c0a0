// SPDX-License-Identifier: LGPL-2.1-or-later
/* fuzz_maps - /proc/PID/smaps parsing and classification. */
#include <stdint.h>
#include <stdio.h>

#include "pgcloneP.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgc_vma_list list = { 0 };
	FILE *f;

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	if (!pgc_maps_parse_stream(f, &list))
		for (size_t i = 0; i < list.n; i++)
			(void)pgc_maps_find(&list, list.v[i].m.start);
	pgc_maps_free(&list);
	fclose(f);
	return 0;
}
