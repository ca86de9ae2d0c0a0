// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz_wire - the records restore's image parser sends the library
 * (lib/image/parser.c).  The parser child runs under a seccomp filter, but
 * a hostile image could take it over; its records must then be refused,
 * never trusted past a bound.
 *
 * Two ways in, chosen by the first byte:
 *  - 'W': the rest is records, decoded as they come;
 *  - otherwise the input is an image (header and manifest checksums
 *    re-sealed, as fuzz_image does).  One that reads cleanly is encoded,
 *    and the decoded records must give back the same manifest field by
 *    field (abort if not); then a byte of the records, picked by the input,
 *    is flipped and the result decoded, which must not crash.
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

static void decode_copy(const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct pgc_img img;

	if (!copy)
		return;
	memcpy(copy, buf, len);
	pgc_clear_error();
	(void)pgc_img_wire_decode(copy, len, &img);	/* takes copy */
	pgc_img_free(&img);
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* What restore uses of a manifest must come through unchanged. */
static void assert_same(const Pgclone__Manifest *a, const Pgclone__Manifest *b)
{
	if (a->n_ranges != b->n_ranges || a->n_extents != b->n_extents ||
	    a->source->pid != b->source->pid || !same_str(a->source->arch, b->source->arch))
		abort();
	for (size_t i = 0; i < a->n_ranges; i++) {
		const Pgclone__Range *x = a->ranges[i], *y = b->ranges[i];

		if (x->start != y->start || x->end != y->end || x->prot != y->prot ||
		    x->kind != y->kind || x->advice != y->advice ||
		    !same_str(x->name, y->name) || !x->file != !y->file ||
		    x->has_src_start != y->has_src_start || x->src_start != y->src_start ||
		    x->has_src_end != y->has_src_end || x->src_end != y->src_end)
			abort();
		if (x->file && (x->file->dev != y->file->dev || x->file->ino != y->file->ino ||
				x->file->offset != y->file->offset ||
				!same_str(x->file->path, y->file->path)))
			abort();
	}
	/* a chain's links: the image's id, its parent's */
	if ((a->has_id_hi && a->has_id_lo) != (b->has_id_hi && b->has_id_lo) ||
	    (b->has_id_hi && (a->id_hi != b->id_hi || a->id_lo != b->id_lo)) ||
	    !a->parent != !b->parent ||
	    (a->parent && (a->parent->id_hi != b->parent->id_hi ||
			   a->parent->id_lo != b->parent->id_lo ||
			   a->parent->manifest_crc != b->parent->manifest_crc)))
		abort();
	/* a live stream's round, and whether it is the last */
	if (!a->live != !b->live ||
	    (a->live && (a->live->round != b->live->round ||
			 !a->live->final != !b->live->final)))
		abort();
	for (size_t i = 0; i < a->n_extents; i++) {
		const Pgclone__Extent *x = a->extents[i], *y = b->extents[i];

		if (x->range != y->range || x->offset != y->offset ||
		    x->nr_pages != y->nr_pages || x->kind != y->kind ||
		    x->data_off != y->data_off || !x->anon != !y->anon)
			abort();
	}
}

static void round_trip(const uint8_t *data, size_t size)
{
	uint8_t *img = malloc(size), *wire = NULL;
	struct pgc_img a, b;
	size_t len;
	int fd;

	if (!img)
		return;
	memcpy(img, data, size);
	fuzz_reseal(img, size);
	fd = memfd_create("fuzz-wire", 0);
	if (fd < 0 || write(fd, img, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) ||
	    pgc_img_read_head(fd, &a)) {
		if (fd >= 0)
			close(fd);
		free(img);
		return;
	}
	close(fd);
	if (!pgc_img_wire_encode(&a, &wire, &len)) {
		uint8_t *copy = malloc(len);

		if (copy) {
			memcpy(copy, wire, len);
			if (pgc_img_wire_decode(copy, len, &b))
				abort();	/* what the child checked must pass */
			assert_same(a.m, b.m);
			pgc_img_free(&b);
		}
		wire[data[size - 1] * 2654435761u % len] ^= data[size / 2] | 1;
		decode_copy(wire, len);
		free(wire);
	}
	pgc_img_free(&a);
	free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size && data[0] == 'W')
		decode_copy(data + 1, size - 1);
	else if (size > PGC_IMG_HDR_SIZE)
		round_trip(data, size);
	return 0;
}
