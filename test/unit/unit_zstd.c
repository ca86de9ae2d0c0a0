// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Compressed blocks (image/zstd.c): what the writer packs reads back
 * exactly, and every block that lies about its sizes is refused before
 * anything is inflated.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"
#include "image/image.h"

#define BLK (64 * 1024)

/* A memfd holding @len bytes of @buf, at offset 0. */
static int feed(const void *buf, size_t len)
{
	int fd = memfd_create("unit-zstd", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Read one block of @img into a buffer taking @room bytes. */
static int read_one(const uint8_t *img, size_t len, size_t room, uint8_t *out,
		    size_t *got)
{
	struct pgc_zstd *r = pgc_zstd_new_reader();
	uint64_t stored = 0;
	int fd = feed(img, len), ret;

	assert_non_null(r);
	pgc_clear_error();
	ret = pgc_zstd_read_block(r, fd, out, room, got, &stored, 0);
	close(fd);
	pgc_zstd_free(r);
	return ret;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_round_trip(void **state)
{
	static uint8_t raw[BLK], block[BLK + 8], back[BLK];
	struct pgc_zstd *w = pgc_zstd_new_writer(3);
	uint64_t x = 88172645463325252ULL;
	size_t len, got;

	assert_non_null(w);
	for (size_t i = 0; i < BLK; i++)		/* compressible */
		raw[i] = (uint8_t)("pgclone "[i % 8]);
	len = pgc_zstd_pack(w, raw, BLK, block);
	assert_true(len < BLK / 10);
	assert_int_equal(read_one(block, len, BLK, back, &got), 0);
	assert_int_equal(got, BLK);
	assert_memory_equal(back, raw, BLK);
	for (size_t i = 0; i < BLK; i++) {
		x ^= x << 13;			/* xorshift: not compressible */
		x ^= x >> 7;
		x ^= x << 17;
		raw[i] = (uint8_t)(x >> 32);
	}
	len = pgc_zstd_pack(w, raw, BLK, block);
	assert_int_equal(len, BLK + PGC_IMG_BLOCK_HDR);	/* stored as it is */
	assert_int_equal(read_one(block, len, BLK, back, &got), 0);
	assert_memory_equal(back, raw, BLK);
	pgc_zstd_free(w);
	(void)state;
}

static void test_refusals(void **state)
{
	static uint8_t raw[BLK], block[BLK + 8], back[2 * BLK];
	struct pgc_zstd *w = pgc_zstd_new_writer(3);
	size_t len, got;

	assert_non_null(w);
	memset(raw, 'a', sizeof(raw));
	len = pgc_zstd_pack(w, raw, BLK, block);
	/* more than is left of the extent: refused before reading on */
	assert_int_equal(read_one(block, len, BLK - 4096, back, &got), -EPROTO);
	assert_non_null(strstr(pgclone_last_error(), "does not fit"));
	/* a header that claims less than its frame inflates to */
	put32(block, BLK / 2);
	assert_int_equal(read_one(block, len, 2 * BLK, back, &got), -EPROTO);
	assert_non_null(strstr(pgclone_last_error(), "would inflate to 65536 bytes"));
	/* stores more than it holds, nothing at all, or a zero-byte block */
	put32(block, BLK);
	put32(block + 4, BLK + 1);
	assert_int_equal(read_one(block, len, 2 * BLK, back, &got), -EPROTO);
	put32(block + 4, 0);
	assert_int_equal(read_one(block, len, 2 * BLK, back, &got), -EPROTO);
	put32(block, 0);
	assert_int_equal(read_one(block, len, 2 * BLK, back, &got), -EPROTO);
	/* cut short */
	len = pgc_zstd_pack(w, raw, BLK, block);
	assert_int_equal(read_one(block, len - 1, BLK, back, &got), -EPROTO);
	assert_non_null(strstr(pgclone_last_error(), "truncated"));
	pgc_zstd_free(w);
	(void)state;
}

static void test_levels(void **state)
{
	assert_int_equal(pgc_zstd_check_level(3), 0);
	assert_int_equal(pgc_zstd_check_level(-1), 0);
	pgc_clear_error();
	assert_int_equal(pgc_zstd_check_level(23), -EINVAL);
	assert_non_null(strstr(pgclone_last_error(), "out of zstd's range"));
	assert_int_equal(pgc_zstd_default_level(), 3);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
