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
#define BIG (1024 * 1024)	/* 4 BIG: one PGC_IMG_CHUNK, several jobs */

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
	int err;
	struct pgc_zstd *w = pgc_zstd_new_writer(3, 0, &err);
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
	int err;
	struct pgc_zstd *w = pgc_zstd_new_writer(3, 0, &err);
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

/*
 * Workers (ZSTD_c_nbWorkers): what they pack the reader gives back, and
 * their blocks are the same for 1 and 4 of them (zstd's promise), so a
 * dump's bytes do not depend on how many it was given.  Debian's libzstd
 * has them; one without says -EOPNOTSUPP, and this test fails there.
 */
static void test_threads(void **state)
{
	static uint8_t raw[4 * BIG], one[4 * BIG + 64], four[4 * BIG + 64], back[4 * BIG];
	int err;
	struct pgc_zstd *w1 = pgc_zstd_new_writer(1, 1, &err);
	struct pgc_zstd *w4 = pgc_zstd_new_writer(1, 4, &err);
	size_t len1, len4, got;

	assert_non_null(w1);
	assert_non_null(w4);
	for (size_t i = 0; i < sizeof(raw); i++)	/* compressible, not trivially */
		raw[i] = (uint8_t)((i * 2654435761u) >> 28) | (uint8_t)(i >> 20);
	len1 = pgc_zstd_pack(w1, raw, sizeof(raw), one);
	len4 = pgc_zstd_pack(w4, raw, sizeof(raw), four);
	assert_true(len1 < sizeof(raw));
	assert_int_equal(len1, len4);
	assert_memory_equal(one, four, len1);
	assert_int_equal(read_one(four, len4, sizeof(raw), back, &got), 0);
	assert_int_equal(got, sizeof(raw));
	assert_memory_equal(back, raw, sizeof(raw));
	pgc_zstd_free(w1);
	pgc_zstd_free(w4);
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
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
