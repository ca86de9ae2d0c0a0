/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * reseal.h - give a mutated image back its header and manifest checksums.
 *
 * Random mutations almost never keep a CRC-32C right, which would stop
 * every input at the header; the image fuzzers re-seal some inputs so
 * that mutations reach the protobuf decoder and the checks behind it.
 */
#ifndef PGCLONE_FUZZ_RESEAL_H
#define PGCLONE_FUZZ_RESEAL_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

static inline void fuzz_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* @img holds @size > PGC_IMG_HDR_SIZE bytes. */
static inline void fuzz_reseal(uint8_t *img, size_t size)
{
	uint64_t mlen = 0;

	for (int i = 7; i >= 0; i--)
		mlen = mlen << 8 | img[32 + i];
	if (mlen <= size - PGC_IMG_HDR_SIZE)
		fuzz_put32(img + 56, pgc_crc32c(0, img + PGC_IMG_HDR_SIZE, (size_t)mlen));
	fuzz_put32(img + 60, pgc_crc32c(0, img, 60));
}

#endif
