// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * format.c - encode and decode the fixed parts of an image, and refuse
 * anything malformed, truncated, oversized or inconsistent before a byte
 * of it is trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pgcloneP.h"
#include "image.h"

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

void pgc_img_header_encode(const struct pgc_img_header *h,
			   uint8_t out[PGC_IMG_HDR_SIZE])
{
	memset(out, 0, PGC_IMG_HDR_SIZE);
	memcpy(out, PGC_IMG_MAGIC, 8);
	put16(out + 8, h->major);
	put16(out + 10, h->minor);
	put32(out + 12, h->hdr_size);
	put32(out + 16, h->page_size);
	put32(out + 20, h->compat);
	put32(out + 24, h->incompat);
	put32(out + 28, h->ro_compat);
	put64(out + 32, h->manifest_len);
	put64(out + 40, h->data_off);
	put64(out + 48, h->data_len);
	put32(out + 56, h->manifest_crc);
	put32(out + 60, pgc_crc32c(0, out, 60));
}

int pgc_img_header_decode(const uint8_t in[PGC_IMG_HDR_SIZE],
			  struct pgc_img_header *h)
{
	if (memcmp(in, PGC_IMG_MAGIC, 8))
		return pgc_fail(-EPROTO, "not a pgclone image (bad magic)");
	if (get32(in + 60) != pgc_crc32c(0, in, 60))
		return pgc_fail(-EPROTO, "image header checksum mismatch");
	h->major = get16(in + 8);
	h->minor = get16(in + 10);
	h->hdr_size = get32(in + 12);
	h->page_size = get32(in + 16);
	h->compat = get32(in + 20);
	h->incompat = get32(in + 24);
	h->ro_compat = get32(in + 28);
	h->manifest_len = get64(in + 32);
	h->data_off = get64(in + 40);
	h->data_len = get64(in + 48);
	h->manifest_crc = get32(in + 56);
	if (h->major != PGC_IMG_MAJOR)
		return pgc_fail(-EOPNOTSUPP, "image format version %u.%u is not supported (this pgclone reads %u.x)",
				h->major, h->minor, PGC_IMG_MAJOR);
	if (h->incompat & ~PGC_IMG_INCOMPAT_KNOWN)
		return pgc_fail(-EOPNOTSUPP, "image uses unknown incompatible features 0x%x",
				h->incompat & ~PGC_IMG_INCOMPAT_KNOWN);
	if (h->hdr_size != PGC_IMG_HDR_SIZE)
		return pgc_fail(-EPROTO, "image header size %u is not %u",
				h->hdr_size, PGC_IMG_HDR_SIZE);
	if (h->page_size < 4096 || h->page_size > (1u << 20) ||
	    (h->page_size & (h->page_size - 1)))
		return pgc_fail(-EPROTO, "image page size %u is not valid", h->page_size);
	if (!h->manifest_len || h->manifest_len > PGC_IMG_MAX_MANIFEST)
		return pgc_fail(-EPROTO, "image manifest length %llu is out of bounds",
				(unsigned long long)h->manifest_len);
	if (h->data_off != pgc_align_up(PGC_IMG_HDR_SIZE + h->manifest_len,
					h->page_size))
		return pgc_fail(-EPROTO, "image data offset %llu is inconsistent",
				(unsigned long long)h->data_off);
	if (h->data_len % h->page_size || h->data_len > PGC_USER_ADDR_LIMIT)
		return pgc_fail(-EPROTO, "image data length %llu is not valid",
				(unsigned long long)h->data_len);
	return 0;
}

void pgc_img_tune_fd(int fd)
{
	struct stat sb;
	long max = 1 << 20;
	FILE *f;

	if (fstat(fd, &sb) || !S_ISFIFO(sb.st_mode))
		return;
	/*
	 * The default 64 KiB pipe costs a context switch per 16 pages on
	 * each side; grow it to what an unprivileged process may ask for.
	 */
	f = fopen("/proc/sys/fs/pipe-max-size", "re");
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 1 << 20;
		fclose(f);
	}
	if (max > (16 << 20))
		max = 16 << 20;
	fcntl(fd, F_SETPIPE_SZ, (int)max);
}

/*
 * How long a read of the image may wait for its next byte; 0 is for ever.
 * Process-wide, because only restore's parser child sets it, and that
 * child is a process of its own that reads nothing else (parser.c).
 */
static unsigned int input_timeout_ms;

void pgc_img_set_input_timeout(unsigned int ms)
{
	input_timeout_ms = ms;
}

/* Wait until @fd has something to read (or its end), at most the timeout. */
static int wait_input(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	if (!input_timeout_ms)
		return 0;
	while ((n = poll(&p, 1, (int)input_timeout_ms)) < 0 && errno == EINTR)
		;
	if (n == 0)
		return pgc_fail(-ETIMEDOUT, "no image data arrived for %g seconds",
				input_timeout_ms / 1000.0);
	return 0;		/* readable, or poll failed: read() says why */
}

int pgc_img_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n;
		int err = wait_input(fd);

		if (err)
			return err;
		n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pgc_fail(-EIO, "cannot read the image: %s", strerror(errno));
		if (n == 0)
			return pgc_fail(-EPROTO, "the image is truncated");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pgc_img_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pgc_fail(-EIO, "cannot write the image: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int check_range(const Pgclone__Range *r, size_t i, uint64_t prev_end,
		       uint32_t page_size)
{
	if (!r->has_start || !r->has_end || r->start >= r->end ||
	    r->start % page_size || r->end % page_size ||
	    r->end > PGC_USER_ADDR_LIMIT)
		return pgc_fail(-EPROTO, "image range %zu has an impossible address", i);
	if (r->start < prev_end)
		return pgc_fail(-EPROTO, "image range %zu overlaps or is out of order", i);
	if (r->prot & ~7u)
		return pgc_fail(-EPROTO, "image range %zu has unknown protection bits", i);
	if ((uint32_t)r->kind > PGCLONE__KIND__FILE_SHARED)
		return pgc_fail(-EPROTO, "image range %zu has an unknown kind", i);
	return 0;
}

int pgc_img_check_manifest(const struct pgc_img_header *h,
			   const Pgclone__Manifest *m, uint64_t *nr_data)
{
	bool delta = h->incompat & PGC_IMG_INCOMPAT_DELTA;
	const Pgclone__Parent *p = m->parent;
	uint64_t prev_end = 0, data_next = 0, n = 0;

	/* the bit is what old readers refuse on; the manifest names the parent */
	if (delta != !!p || (p && (!p->has_id_hi || !p->has_id_lo ||
				   !p->has_manifest_crc)))
		return pgc_fail(-EPROTO, "image header and manifest disagree on whether it is a delta");
	/* a live round: the bit, and round 0 is the one that is no delta */
	if (!!(h->incompat & PGC_IMG_INCOMPAT_LIVE) != !!m->live ||
	    (m->live && (!m->live->has_round || m->live->round >= PGC_IMG_MAX_ROUNDS ||
			 !m->live->round != !p)))
		return pgc_fail(-EPROTO, "image header and manifest disagree on whether it is a round of a live stream");
	if (!m->source || !m->source->has_page_size ||
	    m->source->page_size != h->page_size)
		return pgc_fail(-EPROTO, "image manifest has no source or a different page size");
	/* restore's parser passes it on in a fixed field (image.h) */
	if (m->source->arch && (!m->source->arch[0] ||
				strlen(m->source->arch) >= PGC_IMG_MAX_ARCH))
		return pgc_fail(-EPROTO, "image manifest names an empty or overlong architecture");
	if (!m->n_ranges || m->n_ranges > PGC_IMG_MAX_RANGES ||
	    m->n_extents > PGC_IMG_MAX_EXTENTS)
		return pgc_fail(-EPROTO, "image manifest has %zu ranges and %zu extents: out of bounds",
				m->n_ranges, m->n_extents);
	for (size_t i = 0; i < m->n_ranges; i++) {
		int ret = check_range(m->ranges[i], i, prev_end, h->page_size);

		if (ret)
			return ret;
		prev_end = m->ranges[i]->end;
	}
	/* extents: in range order, ascending, non-overlapping, inside their
	 * range, DATA ones packed back to back in the data area */
	uint64_t last_range = 0, last_end = 0;

	for (size_t i = 0; i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		const Pgclone__Range *r;
		uint64_t len;

		if (!e->has_range || e->range >= m->n_ranges || !e->has_offset ||
		    !e->has_nr_pages || !e->nr_pages ||
		    e->nr_pages > PGC_USER_ADDR_LIMIT / h->page_size ||
		    e->offset % h->page_size ||
		    (uint32_t)e->kind > PGCLONE__EXTENT_KIND__PARENT)
			return pgc_fail(-EPROTO, "image extent %zu is malformed", i);
		if (e->kind == PGCLONE__EXTENT_KIND__PARENT && !delta)
			return pgc_fail(-EPROTO, "image extent %zu names a parent, but the image is no delta", i);
		r = m->ranges[e->range];
		len = e->nr_pages * h->page_size;
		if (e->offset >= r->end - r->start || len > r->end - r->start - e->offset)
			return pgc_fail(-EPROTO, "image extent %zu lies outside its range", i);
		if (i && (e->range < last_range ||
			  (e->range == last_range && e->offset < last_end)))
			return pgc_fail(-EPROTO, "image extent %zu overlaps or is out of order", i);
		last_range = e->range;
		last_end = e->offset + len;
		if (e->kind == PGCLONE__EXTENT_KIND__DATA) {
			if (!e->has_data_off || e->data_off != data_next)
				return pgc_fail(-EPROTO, "image extent %zu has a wrong data offset", i);
			data_next += len;
			n++;
		}
	}
	if (data_next != h->data_len)
		return pgc_fail(-EPROTO, "image data length %llu does not match its extents (%llu)",
				(unsigned long long)h->data_len,
				(unsigned long long)data_next);
	*nr_data = n;
	return 0;
}

/*
 * The incompat bit is what makes an old reader refuse a compressed image;
 * the manifest says which codec and level.  They must agree.
 */
static int check_codec(struct pgc_img *img)
{
	const Pgclone__Compression *c = img->m->compression;
	bool zstd = c && c->has_codec && c->codec == PGCLONE__CODEC__ZSTD;

	if (c && c->has_codec && c->codec != PGCLONE__CODEC__NONE && !zstd)
		return pgc_fail(-EOPNOTSUPP, "image data uses unknown compression %d",
				(int)c->codec);
	if (zstd != !!(img->h.incompat & PGC_IMG_INCOMPAT_ZSTD))
		return pgc_fail(-EPROTO, "image header and manifest disagree on compression");
	img->level = zstd && c->has_level ? c->level : 0;
	return 0;
}

int pgc_img_read_head(int fd, struct pgc_img *img)
{
	uint8_t hdr[PGC_IMG_HDR_SIZE];
	uint8_t *buf;
	size_t pad;
	int ret;

	memset(img, 0, sizeof(*img));
	ret = pgc_img_read_full(fd, hdr, sizeof(hdr));
	if (ret)
		return ret;
	ret = pgc_img_header_decode(hdr, &img->h);
	if (ret)
		return ret;
	/* bounded above: at most PGC_IMG_MAX_MANIFEST */
	pad = (size_t)(img->h.data_off - PGC_IMG_HDR_SIZE);
	buf = malloc(pad);
	if (!buf)
		return pgc_fail(-ENOMEM, "out of memory reading the manifest");
	ret = pgc_img_read_full(fd, buf, pad);
	if (!ret && pgc_crc32c(0, buf, img->h.manifest_len) != img->h.manifest_crc)
		ret = pgc_fail(-EPROTO, "image manifest checksum mismatch");
	for (size_t i = img->h.manifest_len; !ret && i < pad; i++)
		if (buf[i])
			ret = pgc_fail(-EPROTO, "image padding is not zero");
	if (!ret) {
		img->m = pgclone__manifest__unpack(NULL, img->h.manifest_len, buf);
		if (!img->m)
			ret = pgc_fail(-EPROTO, "image manifest is not a valid protobuf message");
	}
	free(buf);
	if (!ret)
		ret = pgc_img_check_manifest(&img->h, img->m, &img->nr_data);
	if (!ret)
		ret = check_codec(img);
	if (ret) {
		pgc_img_free(img);
		return ret;
	}
	img->pos = img->h.data_off;
	return 0;
}

int pgc_img_next_round(const struct pgc_img *prev, const struct pgc_img *cur)
{
	const Pgclone__Manifest *m = cur->m, *pm = prev->m;
	const Pgclone__Parent *p = m->parent;

	if (!m->live || !pm->live || m->live->round != pm->live->round + 1 || !p ||
	    !pm->has_id_hi || !pm->has_id_lo || p->id_hi != pm->id_hi ||
	    p->id_lo != pm->id_lo || p->manifest_crc != prev->h.manifest_crc)
		return pgc_fail(-EPROTO, "round %u of the live stream is followed by something else than its next round",
				pm->live ? pm->live->round : 0);
	return 0;
}

size_t pgc_img_trailer_size(uint64_t nr_data)
{
	return 8 + 8 + (size_t)nr_data * 4 + 4;
}

void pgc_img_trailer_encode(uint8_t *out, const uint32_t *crcs, uint64_t n)
{
	size_t len = pgc_img_trailer_size(n);

	memcpy(out, PGC_IMG_END_MAGIC, 8);
	put64(out + 8, n);
	for (uint64_t i = 0; i < n; i++)
		put32(out + 16 + i * 4, crcs[i]);
	put32(out + len - 4, pgc_crc32c(0, out, len - 4));
}

int pgc_img_read_trailer(int fd, struct pgc_img *img, const uint32_t *crcs)
{
	size_t len = pgc_img_trailer_size(img->nr_data);
	uint8_t *buf = malloc(len), extra;
	int ret;

	if (!buf)
		return pgc_fail(-ENOMEM, "out of memory reading the trailer");
	ret = pgc_img_read_full(fd, buf, len);
	if (!ret && (memcmp(buf, PGC_IMG_END_MAGIC, 8) ||
		     get64(buf + 8) != img->nr_data ||
		     get32(buf + len - 4) != pgc_crc32c(0, buf, len - 4)))
		ret = pgc_fail(-EPROTO, "image trailer is damaged");
	for (uint64_t i = 0; !ret && i < img->nr_data; i++)
		if (get32(buf + 16 + i * 4) != crcs[i])
			ret = pgc_fail(-EPROTO, "image data extent %llu checksum mismatch",
				       (unsigned long long)i);
	free(buf);
	/* a live round that is not the last: the next round follows */
	if (!ret && !pgc_img_more_rounds(img)) {
		ssize_t n;

		while ((n = read(fd, &extra, 1)) < 0 && errno == EINTR)
			;
		if (n > 0)
			ret = pgc_fail(-EPROTO, "trailing garbage after the image");
	}
	return ret;
}

void pgc_img_flat_free(struct pgc_img_flat *f)
{
	if (!f)
		return;
	free(f->ranges);
	free(f->rptr);
	free(f->files);
	free(f->ext);
	free(f->eptr);
	free(f->plan);
	free(f);
}

void pgc_img_free(struct pgc_img *img)
{
	if (img->flat)
		pgc_img_flat_free(img->flat);
	else if (img->m)
		pgclone__manifest__free_unpacked(img->m, NULL);
	img->m = NULL;
	img->flat = NULL;
}

struct pgc_img_batch *pgc_img_batch_new(size_t cap)
{
	struct pgc_img_batch *b = calloc(1, sizeof(*b));

	if (b) {
		b->buf = malloc(cap);
		b->cap = cap;
	}
	if (b && !b->buf) {
		free(b);
		b = NULL;
	}
	return b;
}

void pgc_img_batch_free(struct pgc_img_batch *b)
{
	if (b)
		free(b->buf);
	free(b);
}

size_t pgc_img_batch_room(const struct pgc_img_batch *b)
{
	return b->nr == PGC_IMG_IOV_BATCH ? 0 : b->cap - b->used;
}

void pgc_img_batch_add(struct pgc_img_batch *b, uint64_t k, size_t n,
		       uint64_t remote)
{
	struct iovec *l = b->niov ? &b->liov[b->niov - 1] : NULL;
	struct iovec *r = b->niov ? &b->riov[b->niov - 1] : NULL;

	/*
	 * A piece that goes on where the last one ended, in the buffer and
	 * in the target, extends its iovec: the extents of 30,000 one-page
	 * ranges restored side by side cost the kernel one iovec, not one
	 * lookup and page-table walk each.
	 */
	if (remote && l && (char *)l->iov_base + l->iov_len == b->buf + b->used &&
	    (uint64_t)r->iov_base + r->iov_len == remote) {
		l->iov_len += n;
		r->iov_len += n;
	} else if (remote) {
		b->liov[b->niov] = (struct iovec){ b->buf + b->used, n };
		b->riov[b->niov] = (struct iovec){ (void *)remote, n };
		b->niov++;
	}
	b->piece[b->nr].off = b->used;
	b->piece[b->nr].len = n;
	b->piece[b->nr].k = k;
	b->nr++;
	b->used += n;
}

size_t pgc_img_batch_iov_bytes(const struct pgc_img_batch *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->niov; i++)
		n += b->riov[i].iov_len;
	return n;
}

void pgc_img_batch_done(struct pgc_img_batch *b, uint32_t *crcs)
{
	for (size_t i = 0; crcs && i < b->nr; i++)
		crcs[b->piece[i].k] = pgc_crc32c(crcs[b->piece[i].k],
						 b->buf + b->piece[i].off,
						 b->piece[i].len);
	b->used = b->nr = b->niov = 0;
}

void pgc_img_range_public(const Pgclone__Range *r, uint32_t page_size,
			  struct pgclone_range *p)
{
	p->map.start = r->start;
	p->map.end = r->end;
	p->map.prot = r->prot;
	p->map.kind = (enum pgclone_kind)r->kind;
	p->map.shared = r->kind == PGCLONE__KIND__ANON_SHARED ||
			r->kind == PGCLONE__KIND__FILE_SHARED;
	p->map.advice = r->advice;
	p->map.name = r->name ? r->name : "";
	if (r->file) {
		p->map.offset = r->file->offset;
		p->map.dev = r->file->dev;
		p->map.ino = r->file->ino;
	}
	p->dst = r->start;
	p->pages = (r->end - r->start) / page_size;
}
