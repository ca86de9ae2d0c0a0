// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * zstd.c - the blocks of a compressed data area (image.h,
 * pgclone-image(5)): write one from raw bytes, read one back without
 * trusting a byte of it.
 *
 * Each block is a single zstd frame compressed on its own (never a
 * stream that spans blocks), so a reader needs no window beyond the block
 * it holds, and its memory is two PGC_IMG_CHUNK buffers whatever the
 * image says.  A reader inflates straight into a buffer of exactly the
 * block's raw_len; raw_len is checked against what is left of the
 * manifest's extent first, and the frame's own declared size against
 * raw_len, so a frame that would inflate further is refused before it is
 * inflated (zstd itself stops at the buffer's end: ZSTD_decompressDCtx
 * never writes past dstCapacity).  This is the decompression bomb guard.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "../pgcloneP.h"
#include "image.h"

struct pgc_zstd {
	ZSTD_CCtx *cctx;		/* writer */
	ZSTD_DCtx *dctx;		/* reader */
	uint8_t *in;			/* reader: one block's frame */
};

int pgc_zstd_default_level(void)
{
	return ZSTD_CLEVEL_DEFAULT;
}

int pgc_zstd_check_level(int level)
{
	/* 0 is zstd's "default"; pgclone takes that as ZSTD_CLEVEL_DEFAULT */
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return pgc_fail(-EINVAL, "compression level %d is out of zstd's range %d to %d",
				level, ZSTD_minCLevel(), ZSTD_maxCLevel());
	return 0;
}

struct pgc_zstd *pgc_zstd_new_writer(int level, unsigned int threads, int *err)
{
	struct pgc_zstd *z = calloc(1, sizeof(*z));

	*err = -ENOMEM;
	if (!z)
		return NULL;
	z->cctx = ZSTD_createCCtx();
	/*
	 * Workers split each block into jobs compressed side by side; a
	 * libzstd built without ZSTD_MULTITHREAD refuses any but 0.  Their
	 * frames are the same whatever their number (zstd's promise for
	 * nbWorkers >= 1), and a reader inflates them as any other.
	 */
	if (z->cctx && threads &&
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_nbWorkers, (int)threads))) {
		pgc_zstd_free(z);
		*err = -EOPNOTSUPP;
		return NULL;
	}
	/*
	 * The frame states its content size (a reader checks it before
	 * inflating) and carries no checksum of its own: the trailer's
	 * crc32c over the raw bytes is the one that counts.
	 */
	if (!z->cctx ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0))) {
		pgc_zstd_free(z);
		return NULL;
	}
	return z;
}

struct pgc_zstd *pgc_zstd_new_reader(void)
{
	struct pgc_zstd *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->dctx = ZSTD_createDCtx();
	z->in = malloc(PGC_IMG_CHUNK);
	if (!z->dctx || !z->in) {
		pgc_zstd_free(z);
		return NULL;
	}
	return z;
}

void pgc_zstd_free(struct pgc_zstd *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	free(z->in);
	free(z);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t pgc_zstd_pack_bound(size_t n)
{
	return PGC_IMG_BLOCK_HDR + n;
}

size_t pgc_zstd_pack(struct pgc_zstd *z, const void *src, size_t n, uint8_t *out)
{
	/*
	 * Room for one byte less than the raw bytes: a frame that does not
	 * save a byte fails with dstSize_tooSmall, and the block keeps the
	 * bytes as they are, so a reader copies instead of inflating.
	 */
	size_t len = ZSTD_compress2(z->cctx, out + PGC_IMG_BLOCK_HDR, n - 1, src, n);

	if (ZSTD_isError(len) || len >= n) {
		memcpy(out + PGC_IMG_BLOCK_HDR, src, n);
		len = n;
	}
	put32(out, (uint32_t)n);
	put32(out + 4, (uint32_t)len);
	return PGC_IMG_BLOCK_HDR + len;
}

static int inflate(struct pgc_zstd *z, void *dst, uint32_t raw_len,
		   uint32_t stored_len, uint64_t k)
{
	unsigned long long declared = ZSTD_getFrameContentSize(z->in, stored_len);
	size_t n;

	if (declared == ZSTD_CONTENTSIZE_ERROR)
		return pgc_fail(-EPROTO, "image data extent %llu: a block is not a zstd frame",
				(unsigned long long)k);
	if (declared == ZSTD_CONTENTSIZE_UNKNOWN)
		return pgc_fail(-EPROTO, "image data extent %llu: a zstd frame does not declare its size",
				(unsigned long long)k);
	if (declared != raw_len)
		return pgc_fail(-EPROTO, "image data extent %llu: a zstd frame would inflate to %llu bytes, its block holds %u",
				(unsigned long long)k, declared, raw_len);
	n = ZSTD_findFrameCompressedSize(z->in, stored_len);
	if (ZSTD_isError(n) || n != stored_len)
		return pgc_fail(-EPROTO, "image data extent %llu: a block is not exactly one zstd frame",
				(unsigned long long)k);
	n = ZSTD_decompressDCtx(z->dctx, dst, raw_len, z->in, stored_len);
	if (ZSTD_isError(n))
		return pgc_fail(-EPROTO, "image data extent %llu: corrupt zstd frame (%s)",
				(unsigned long long)k, ZSTD_getErrorName(n));
	if (n != raw_len)
		return pgc_fail(-EPROTO, "image data extent %llu: a zstd frame inflated to %zu bytes, its block holds %u",
				(unsigned long long)k, n, raw_len);
	return 0;
}

int pgc_zstd_read_block(struct pgc_zstd *z, int fd, void *dst, size_t room,
			size_t *got, uint64_t *stored, uint64_t k)
{
	uint8_t hdr[PGC_IMG_BLOCK_HDR];
	uint32_t raw_len, stored_len;
	int ret = pgc_img_read_full(fd, hdr, sizeof(hdr));

	if (ret)
		return ret;
	raw_len = get32(hdr);
	stored_len = get32(hdr + 4);
	/* every size against the manifest before a byte is read or inflated */
	if (!raw_len || raw_len > room || raw_len > PGC_IMG_CHUNK)
		return pgc_fail(-EPROTO, "image data extent %llu: a block of %u bytes does not fit the %zu left of it",
				(unsigned long long)k, raw_len, room);
	if (!stored_len || stored_len > raw_len)
		return pgc_fail(-EPROTO, "image data extent %llu: a block stores %u bytes for %u",
				(unsigned long long)k, stored_len, raw_len);
	*stored += PGC_IMG_BLOCK_HDR + stored_len;
	*got = raw_len;
	if (stored_len == raw_len)
		return pgc_img_read_full(fd, dst, raw_len);
	ret = pgc_img_read_full(fd, z->in, stored_len);
	return ret ? ret : inflate(z, dst, raw_len, stored_len, k);
}
