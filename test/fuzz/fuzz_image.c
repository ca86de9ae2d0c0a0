// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz_image - the image reader (header, manifest, extents, data,
 * trailer) on arbitrary bytes: it must refuse, never crash, and never
 * allocate more than the header's bounds allow.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pgcloneP.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgclone_image_info info = { .sz = sizeof(info) };
	int fd = memfd_create("fuzz-image", 0);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size && !lseek(fd, 0, SEEK_SET) &&
	    !pgclone_image_info(fd, PGCLONE_IMAGE_VERIFY, &info))
		pgclone_image_info_free(&info);
	close(fd);
	return 0;
}
