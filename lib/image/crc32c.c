// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * crc32c.c - CRC-32C (Castagnoli), as ext4, iSCSI and btrfs use it.  The
 * SSE4.2 crc32 instruction when the CPU has it (images are checksummed at
 * memory speed), a table otherwise; both give the same value.
 *
 * One crc32 instruction waits for the one before (3 cycles, for 8 bytes),
 * but the CPU starts one every cycle: so a long buffer is taken as three
 * streams of equal blocks, checksummed side by side, and the three CRCs
 * are combined by shifting the first two over the bytes that follow them
 * (a CRC is linear: crc(A B) = crc(A) shifted by |B| zero bytes ^ crc(B)
 * from 0).  The shift is four table lookups, built once per block size
 * (after Mark Adler's crc32c.c).  This runs some 3x faster than one
 * stream, which restore and dump pay on every byte they move.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "image.h"

#define POLY 0x82f63b78u

static uint32_t table[256];

static void init_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[i] = c;
	}
}

static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static uint32_t crc_table(uint32_t crc, const uint8_t *p, size_t len)
{
	pthread_once(&table_once, init_table);
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/* Block sizes of the three streams: long buffers, then what is left. */
#define LONG 8192u
#define SHORT 256u

/* The 32x32 matrix @mat (over GF(2)) times @vec. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;

	for (; vec; vec >>= 1, mat++)
		if (vec & 1)
			sum ^= *mat;
	return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++)
		square[n] = gf2_times(mat, mat[n]);
}

/* The operator that feeds @len zero bytes (a power of two) to a CRC. */
static void zeros_op(uint32_t even[32], size_t len)
{
	uint32_t odd[32], row = 1;

	odd[0] = POLY;			/* one zero bit */
	for (int n = 1; n < 32; n++, row <<= 1)
		odd[n] = row;
	gf2_square(even, odd);		/* two */
	gf2_square(odd, even);		/* four */
	for (;;) {
		gf2_square(even, odd);	/* eight bits: one byte, then 4, 16... */
		len >>= 1;
		if (!len)
			return;
		gf2_square(odd, even);	/* 2, 8, 32... bytes */
		len >>= 1;
		if (!len)
			break;
	}
	memcpy(even, odd, sizeof(odd));
}

/* That operator as four tables, one per byte of the CRC. */
static void zeros_tables(uint32_t zeros[4][256], size_t len)
{
	uint32_t op[32];

	zeros_op(op, len);
	for (uint32_t n = 0; n < 256; n++)
		for (int b = 0; b < 4; b++)
			zeros[b][n] = gf2_times(op, n << (8 * b));
}

static uint32_t zeros_long[4][256], zeros_short[4][256];
static pthread_once_t zeros_once = PTHREAD_ONCE_INIT;

static void init_zeros(void)
{
	zeros_tables(zeros_long, LONG);
	zeros_tables(zeros_short, SHORT);
}

static uint32_t shift(const uint32_t zeros[4][256], uint32_t crc)
{
	return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^
	       zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Three blocks of @block bytes from @p, folded into @crc. */
__attribute__((target("sse4.2")))
static uint64_t three_ways(uint64_t crc, const uint8_t *p, size_t block,
			   const uint32_t zeros[4][256])
{
	uint64_t c1 = 0, c2 = 0;
	const uint8_t *end = p + block;

	for (; p < end; p += 8) {
		crc = __builtin_ia32_crc32di(crc, load64(p));
		c1 = __builtin_ia32_crc32di(c1, load64(p + block));
		c2 = __builtin_ia32_crc32di(c2, load64(p + 2 * block));
	}
	crc = shift(zeros, (uint32_t)crc) ^ (uint32_t)c1;
	return shift(zeros, (uint32_t)crc) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2")))
static uint32_t crc_sse42(uint32_t crc32, const uint8_t *p, size_t len)
{
	uint64_t crc = crc32;

	/* 8-byte aligned loads from here on */
	for (; len && ((uintptr_t)p & 7); len--)
		crc = __builtin_ia32_crc32qi((uint32_t)crc, *p++);
	if (len >= 3 * SHORT)
		pthread_once(&zeros_once, init_zeros);
	for (; len >= 3 * LONG; p += 3 * LONG, len -= 3 * LONG)
		crc = three_ways(crc, p, LONG, zeros_long);
	for (; len >= 3 * SHORT; p += 3 * SHORT, len -= 3 * SHORT)
		crc = three_ways(crc, p, SHORT, zeros_short);
	for (; len >= 8; p += 8, len -= 8)
		crc = __builtin_ia32_crc32di(crc, load64(p));
	while (len--)
		crc = __builtin_ia32_crc32qi((uint32_t)crc, *p++);
	return (uint32_t)crc;
}
#endif

uint32_t pgc_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_sse42(crc, buf, len);
#endif
	return ~crc_table(crc, buf, len);
}

uint32_t pgc_crc32c_soft(uint32_t crc, const void *buf, size_t len)
{
	return ~crc_table(~crc, buf, len);
}
