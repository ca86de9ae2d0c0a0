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

/*
 * Stored data: the DATA extents lie back to back, so it is read in
 * slices that may span many of them (a sparse range's one-page extents
 * cost a read() per slice, not per page), each slice's pieces fed to
 * their extents' checksums.
 */
static int read_stored(int fd, const struct pgc_img *img,
		       const struct pgc_img_sink *sink, char *buf,
		       uint32_t *crcs, uint64_t *total)
{
	const Pgclone__Manifest *m = img->m;
	size_t most = PGC_IMG_SLICE;	/* checksummed while in the cache */
	uint64_t left = 0, in_ext = 0, k = 0;
	size_t i = 0;
	int ret = 0;

	for (size_t j = 0; j < m->n_extents; j++)
		if (m->extents[j]->kind == PGCLONE__EXTENT_KIND__DATA)
			left += m->extents[j]->nr_pages * img->h.page_size;
	while (!ret && left) {
		size_t room = left < most ? (size_t)left : most;
		void *at = buf;
		size_t off = 0;

		if (!buf)
			ret = sink->get(sink->ctx, room, &at);
		if (!ret)
			ret = pgc_img_read_full(fd, at, room);
		if (ret)
			break;
		*total += room;
		while (off < room) {
			size_t n;

			/* to the next DATA extent; there is one: left says so */
			while (!in_ext) {
				const Pgclone__Extent *e = m->extents[i++];

				if (e->kind != PGCLONE__EXTENT_KIND__DATA)
					continue;
				in_ext = e->nr_pages * img->h.page_size;
			}
			n = in_ext < room - off ? (size_t)in_ext : room - off;
			crcs[k] = pgc_crc32c(crcs[k], (char *)at + off, n);
			off += n;
			in_ext -= n;
			if (!in_ext)
				k++;
		}
		if (sink)
			ret = sink->put(sink->ctx, at, room);
		left -= room;
	}
	return ret;
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

	if (!ret && !packed)
		ret = read_stored(fd, img, sink, buf, crcs, &total);
	for (size_t i = 0; !ret && packed && i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		uint64_t left = e->nr_pages * img->h.page_size;

		if (e->kind != PGCLONE__EXTENT_KIND__DATA)
			continue;
		while (!ret && left) {
			/* a block takes up to a chunk */
			size_t room = left < PGC_IMG_CHUNK ? (size_t)left : PGC_IMG_CHUNK;
			void *at = buf;
			size_t n;

			if (lent)
				ret = sink->get(sink->ctx, room, &at);
			if (!ret)
				ret = pgc_zstd_read_block(z, fd, at, room, &n, &total, k);
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
