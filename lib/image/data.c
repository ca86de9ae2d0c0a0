// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * data.c - read an image's data area and trailer, stored or compressed,
 * checking every extent's checksum over its raw bytes.  The one reader of
 * the data for restore's parser child and for verify, so both refuse the
 * same images with the same words.
 */
#include <stdlib.h>

#include "../pgcloneP.h"
#include "image.h"

/* Up to @room raw bytes of DATA extent @k into @buf; *@got: how many. */
static int read_piece(int fd, struct pgc_zstd *z, void *buf, size_t room,
		      size_t *got, uint64_t *stored, uint64_t k)
{
	if (z)
		return pgc_zstd_read_block(z, fd, buf, room, got, stored, k);
	*got = room;
	*stored += room;
	return pgc_img_read_full(fd, buf, room);
}

int pgc_img_read_data(int fd, struct pgc_img *img,
		      const struct pgc_img_sink *sink, uint64_t *stored)
{
	const Pgclone__Manifest *m = img->m;
	bool packed = img->h.incompat & PGC_IMG_INCOMPAT_ZSTD;
	uint32_t *crcs = calloc(img->nr_data ? img->nr_data : 1, sizeof(*crcs));
	bool lent = sink && sink->get;
	char *buf = lent ? NULL : malloc(PGC_IMG_CHUNK);
	struct pgc_zstd *z = packed ? pgc_zstd_new_reader() : NULL;
	uint64_t k = 0, total = 0;
	int ret = crcs && (buf || lent) && (z || !packed) ? 0 :
		  pgc_fail(-ENOMEM, "out of memory reading the data");

	for (size_t i = 0; !ret && i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		uint64_t left = e->nr_pages * img->h.page_size;

		if (e->kind != PGCLONE__EXTENT_KIND__DATA)
			continue;
		while (!ret && left) {
			/* a block takes up to a chunk; stored bytes, a slice
			 * of the sink's, checksummed while in the cache */
			size_t most = packed || !lent ? PGC_IMG_CHUNK : PGC_IMG_SLICE;
			size_t room = left < most ? (size_t)left : most;
			void *at = buf;
			size_t n;

			if (lent)
				ret = sink->get(sink->ctx, room, &at);
			if (!ret)
				ret = read_piece(fd, z, at, room, &n, &total, k);
			if (ret)
				break;
			crcs[k] = pgc_crc32c(crcs[k], at, n);
			if (sink)
				ret = sink->put(sink->ctx, at, n);
			left -= n;
		}
		k++;
	}
	if (!ret)
		ret = pgc_img_read_trailer(fd, img, crcs);
	if (!ret && stored)
		*stored = total;
	pgc_zstd_free(z);
	free(buf);
	free(crcs);
	return ret;
}
