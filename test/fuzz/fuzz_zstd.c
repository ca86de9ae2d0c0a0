// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz_zstd - the compressed data area (image/zstd.c, image/data.c).
 *
 * fuzz_image reaches the block reader only through inputs whose header
 * and manifest survived mutation.  Here every input is a data area: a
 * fixed, valid header and manifest of a compressed image (two DATA
 * extents, one page and three pages) come first, so each mutation lands
 * on block headers, frames and the trailer.  The reader must refuse or
 * accept, never crash, never write past a block's raw_len (ASan sees it).
 *
 * The same bytes also go through the writer: a block packed from them
 * must read back to them exactly, at the level the first byte picks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pgcloneP.h"
#include "image/image.h"

#define PAGE 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Header and manifest of a compressed image, padded to its data_off. */
static size_t head(uint8_t *out)
{
	Pgclone__Manifest m = PGCLONE__MANIFEST__INIT;
	Pgclone__Source src = PGCLONE__SOURCE__INIT;
	Pgclone__Range r = PGCLONE__RANGE__INIT, *rp = &r;
	Pgclone__Extent e[2] = { PGCLONE__EXTENT__INIT, PGCLONE__EXTENT__INIT };
	Pgclone__Extent *ep[2] = { &e[0], &e[1] };
	Pgclone__Compression c = PGCLONE__COMPRESSION__INIT;
	struct pgc_img_header h = {
		.major = PGC_IMG_MAJOR, .minor = PGC_IMG_MINOR,
		.hdr_size = PGC_IMG_HDR_SIZE, .page_size = PAGE,
		.incompat = PGC_IMG_INCOMPAT_ZSTD, .data_len = 4 * PAGE,
	};
	const uint64_t off[2] = { 0, 2 * PAGE }, pages[2] = { 1, 3 };

	src.has_page_size = 1;
	src.page_size = PAGE;
	r.has_start = r.has_end = 1;
	r.start = 0x10000;
	r.end = 0x20000;
	for (int i = 0; i < 2; i++) {
		e[i].has_range = e[i].has_offset = e[i].has_nr_pages = 1;
		e[i].has_kind = e[i].has_data_off = 1;
		e[i].offset = off[i];
		e[i].nr_pages = pages[i];
		e[i].data_off = i ? PAGE : 0;
	}
	c.has_codec = c.has_level = 1;
	c.codec = PGCLONE__CODEC__ZSTD;
	c.level = 3;
	m.source = &src;
	m.n_ranges = 1;
	m.ranges = &rp;
	m.n_extents = 2;
	m.extents = ep;
	m.compression = &c;
	h.manifest_len = pgclone__manifest__pack(&m, out + PGC_IMG_HDR_SIZE);
	h.manifest_crc = pgc_crc32c(0, out + PGC_IMG_HDR_SIZE, h.manifest_len);
	h.data_off = pgc_align_up(PGC_IMG_HDR_SIZE + h.manifest_len, PAGE);
	pgc_img_header_encode(&h, out);
	return (size_t)h.data_off;
}

static void read_area(const uint8_t *data, size_t size)
{
	struct pgclone_image_info info = { .sz = sizeof(info) };
	static uint8_t hd[PAGE];
	static size_t hlen;
	int fd = memfd_create("fuzz-zstd", 0);

	if (!hlen)
		hlen = head(hd);
	if (fd < 0)
		return;
	if (write(fd, hd, hlen) == (ssize_t)hlen &&
	    write(fd, data, size) == (ssize_t)size && !lseek(fd, 0, SEEK_SET) &&
	    !pgclone_image_info(fd, PGCLONE_IMAGE_VERIFY, &info))
		pgclone_image_info_free(&info);
	close(fd);
}

/* What the writer packs, the reader gives back. */
static void round_trip(const uint8_t *data, size_t size)
{
	/* one context per level, kept: creating one costs more than a run */
	static struct pgc_zstd *ws[5], *r;
	int pick = data[0] % 5, level = pick - 1;	/* -1 to 3 */
	int err;
	struct pgc_zstd *w = ws[pick] ? ws[pick] :
			     (ws[pick] = pgc_zstd_new_writer(level ? level : 3, 0, &err));
	uint8_t *block = malloc(pgc_zstd_pack_bound(size)), *back = malloc(size);
	uint64_t stored = 0;
	size_t len, got = 0;
	int fd = memfd_create("fuzz-zstd-rt", 0);

	if (!r)
		r = pgc_zstd_new_reader();
	if (!w || !r || !block || !back || fd < 0)
		abort();
	len = pgc_zstd_pack(w, data, size, block);
	if (write(fd, block, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET))
		abort();
	if (pgc_zstd_read_block(r, fd, back, size, &got, &stored, 0) ||
	    got != size || stored != len || memcmp(back, data, size))
		abort();
	close(fd);
	free(block);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_area(data, size);
	if (size && size <= PGC_IMG_CHUNK)
		round_trip(data, size);
	return 0;
}
