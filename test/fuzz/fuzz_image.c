// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz_image - the image reader (header, manifest, extents, data,
 * trailer) on arbitrary bytes: it must refuse, never crash, and never
 * allocate more than the header's bounds allow.
 *
 * Random mutations almost never keep a CRC-32C right, which would stop
 * every input at the header.  So the harness re-seals the header and
 * manifest checksums of half the inputs (chosen by the first byte after
 * the header), letting the fuzzer reach the protobuf decoder and the
 * structure checks behind them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pgcloneP.h"
#include "image/image.h"
#include "reseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pgclone_image_info info = { .sz = sizeof(info) };
	uint8_t *img = malloc(size ? size : 1);
	int fd;

	if (!img)
		return 0;
	memcpy(img, data, size);
	if (size > PGC_IMG_HDR_SIZE && (img[PGC_IMG_HDR_SIZE] & 1))
		fuzz_reseal(img, size);
	fd = memfd_create("fuzz-image", 0);
	if (fd >= 0 && write(fd, img, size) == (ssize_t)size &&
	    !lseek(fd, 0, SEEK_SET) &&
	    !pgclone_image_info(fd, PGCLONE_IMAGE_VERIFY, &info))
		pgclone_image_info_free(&info);
	if (fd >= 0)
		close(fd);
	free(img);
	return 0;
}
