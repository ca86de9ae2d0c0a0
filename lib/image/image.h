/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image.h - the pgclone image format (pgclone-image(5)).
 *
 *   offset 0         header, 64 bytes, little endian, readable without protobuf
 *   offset 64        manifest: protobuf-c Pgclone__Manifest, manifest_len bytes
 *   data_off         data area: the DATA extents' pages, in manifest order,
 *                    page aligned (data_off is a multiple of page_size);
 *                    with PGC_IMG_INCOMPAT_ZSTD, the same bytes as blocks
 *                    (below), so its length is known only once read
 *   after the data   trailer: "PGCLEND\0", u64 count, count x u32 crc32c of
 *                    each DATA extent, u32 crc32c of the trailer so far
 *
 * Everything a reader needs to place the data comes before the data, and
 * every checksum of the data comes right after it, so an image is written
 * and read in one pass through a pipe, with no seeking.
 */
#ifndef PGCLONE_IMAGE_H
#define PGCLONE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include "pgclone.h"
#include "pgclone.pb-c.h"

#define PGC_IMG_MAGIC "PGCLONE"		/* + NUL: 8 bytes */
#define PGC_IMG_END_MAGIC "PGCLEND"
#define PGC_IMG_MAJOR 1
#define PGC_IMG_MINOR 0
#define PGC_IMG_HDR_SIZE 64
/* Feature bits.  Unknown incompat bits: refuse to read; unknown
 * ro_compat bits: read (show, verify) but refuse to restore. */
#define PGC_IMG_INCOMPAT_ZSTD 0x1u	/* the data area is zstd blocks */
#define PGC_IMG_INCOMPAT_DELTA 0x2u	/* PARENT extents: pages of the parent */
#define PGC_IMG_INCOMPAT_LIVE 0x4u	/* a round of a live stream: more may follow */
#define PGC_IMG_INCOMPAT_KNOWN (PGC_IMG_INCOMPAT_ZSTD | PGC_IMG_INCOMPAT_DELTA | \
				PGC_IMG_INCOMPAT_LIVE)
/* The most rounds a live stream may hold (the writer stops far sooner). */
#define PGC_IMG_MAX_ROUNDS 1000u
#define PGC_IMG_RO_COMPAT_KNOWN 0u
/* Bounds checked before anything is allocated. */
#define PGC_IMG_MAX_MANIFEST (64u << 20)
#define PGC_IMG_MAX_RANGES 1000000u
#define PGC_IMG_MAX_EXTENTS (1u << 24)
#define PGC_IMG_MAX_ARCH 72		/* bytes of the source's arch, with its NUL */

struct pgc_img_header {
	uint16_t major, minor;
	uint32_t hdr_size;
	uint32_t page_size;
	uint32_t compat, incompat, ro_compat;
	uint64_t manifest_len;
	uint64_t data_off;
	uint64_t data_len;
	uint32_t manifest_crc;
};

uint32_t pgc_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t pgc_crc32c_soft(uint32_t crc, const void *buf, size_t len);

void pgc_img_header_encode(const struct pgc_img_header *h,
			   uint8_t out[PGC_IMG_HDR_SIZE]);
/* Returns 0 or -EINVAL/-EPROTO/-EOPNOTSUPP with pgclone_last_error() set. */
int pgc_img_header_decode(const uint8_t in[PGC_IMG_HDR_SIZE],
			  struct pgc_img_header *h);

/* An image as a reader holds it after header and manifest. */
struct pgc_img {
	struct pgc_img_header h;
	Pgclone__Manifest *m;
	uint64_t nr_data;		/* DATA extents */
	uint64_t pos;			/* bytes consumed from the stream */
	int level;			/* PGC_IMG_INCOMPAT_ZSTD: the dump's level */
	struct pgc_img_flat *flat;	/* m rebuilt from a parser's records */
};

/* Read and check header and manifest from @fd (no seeking). */
int pgc_img_read_head(int fd, struct pgc_img *img);
/* Structure checks a manifest must pass before anything trusts it. */
int pgc_img_check_manifest(const struct pgc_img_header *h,
			   const Pgclone__Manifest *m, uint64_t *nr_data);
/* Give a pipe a bigger buffer: an image moves megabytes at a time. */
void pgc_img_tune_fd(int fd);
/* Bound each wait of pgc_img_read_full() (restore's parser child). */
void pgc_img_set_input_timeout(unsigned int ms);
/* Read exactly @len bytes (EOF early is -EPROTO: truncated image;
 * nothing for the input timeout: -ETIMEDOUT). */
int pgc_img_read_full(int fd, void *buf, size_t len);
int pgc_img_write_full(int fd, const void *buf, size_t len);
/*
 * A compressed data area (PGC_IMG_INCOMPAT_ZSTD) is a sequence of blocks,
 * each an 8-byte header -- u32 raw_len, u32 stored_len, little endian --
 * and stored_len bytes.  A block carries raw_len bytes (1 to
 * PGC_IMG_CHUNK) of one DATA extent, never of two: stored_len == raw_len
 * means the bytes as they are (they did not compress), stored_len <
 * raw_len one zstd frame that declares raw_len as its content size.
 * Checksums stay over the raw bytes, so verify means what it meant.
 */
#define PGC_IMG_BLOCK_HDR 8u

/* zstd.c: one block writer or reader (a zstd context and its buffers). */
struct pgc_zstd;
/* @threads: zstd's workers (0: compress in the calling thread); NULL and
 * *@err -ENOMEM, or -EOPNOTSUPP for threads from a libzstd without them. */
struct pgc_zstd *pgc_zstd_new_writer(int level, unsigned int threads, int *err);
struct pgc_zstd *pgc_zstd_new_reader(void);
void pgc_zstd_free(struct pgc_zstd *z);
/* Bytes pgc_zstd_pack() may write for @n raw bytes. */
size_t pgc_zstd_pack_bound(size_t n);
/* @n raw bytes as one block at @out; returns the block's size. */
size_t pgc_zstd_pack(struct pgc_zstd *z, const void *src, size_t n, uint8_t *out);
/*
 * Read one block of DATA extent @k from @fd into @dst, which takes at most
 * @room bytes (what is left of the extent, at most PGC_IMG_CHUNK): *@got
 * is set to its raw_len, *@stored grows by what it took in the image.
 * Every size is checked before anything is inflated, and a frame that
 * would inflate past raw_len is refused: -EPROTO.
 */
int pgc_zstd_read_block(struct pgc_zstd *z, int fd, void *dst, size_t room,
			size_t *got, uint64_t *stored, uint64_t k);

/*
 * data.c: the data area read extent by extent -- from its blocks when
 * compressed -- each extent's checksum computed over the raw bytes, then
 * the trailer checked.  @sink (optional) gets every raw byte in order;
 * *@stored (optional) is set to the bytes the data area took in the image.
 *
 * A sink's get (optional) lends the buffer the next @len raw bytes are
 * read into (restore's parser: the ring it shares with the library), so
 * that they are checksummed where they will be taken from; without it
 * they are read into a buffer of the reader's own.  put then gets them.
 */
struct pgc_img_sink {
	int (*get)(void *ctx, size_t len, void **buf);
	int (*put)(void *ctx, const void *buf, size_t len);
	void *ctx;
};
/* The most a sink's get is asked for at once when the data is stored. */
#define PGC_IMG_SLICE (256u << 10)
int pgc_img_read_data(int fd, struct pgc_img *img,
		      const struct pgc_img_sink *sink, uint64_t *stored);

/* A round of a live stream that is not its last: more bytes follow it. */
static inline bool pgc_img_more_rounds(const struct pgc_img *img)
{
	return img->m && img->m->live && !img->m->live->final;
}

/* @cur is the round of a live stream that follows @prev: -EPROTO if not. */
int pgc_img_next_round(const struct pgc_img *prev, const struct pgc_img *cur);

/* Read the trailer and compare it with the CRCs computed while reading. */
int pgc_img_read_trailer(int fd, struct pgc_img *img, const uint32_t *crcs);
size_t pgc_img_trailer_size(uint64_t nr_data);
void pgc_img_trailer_encode(uint8_t *out, const uint32_t *crcs, uint64_t n);
void pgc_img_free(struct pgc_img *img);

/*
 * parser.c: the image read by a child process of its own (restore).
 * start forks it and returns the checked header and manifest; the data
 * area then comes through parser_read, and parser_finish returns the
 * child's verdict on the checksums and the trailer.  stop kills and reaps
 * it; it is always called, after either.
 */
struct pgc_request;
/*
 * The manifest the library rebuilds from a parser's records (parser.c):
 * one allocation per array, strings pointing into plan.
 */
struct pgc_img_flat {
	Pgclone__Manifest m;
	Pgclone__Source src;
	Pgclone__Range *ranges, **rptr;
	Pgclone__FileIdentity *files;
	Pgclone__Extent *ext, **eptr;
	Pgclone__Parent parent;
	Pgclone__Live live;
	uint8_t *plan;			/* head and records; strings point into it */
	char arch[PGC_IMG_MAX_ARCH];
};
void pgc_img_flat_free(struct pgc_img_flat *f);

struct pgc_img_parser {
	pid_t pid;
	int data, verdict;
	const struct pgc_request *req;	/* asked whether to stop while waiting */
	/*
	 * The data area comes through memory shared with the child, a ring
	 * of ring_len bytes mapped twice in a row (so any ring_len bytes of
	 * it are contiguous): the child reads the image into it and
	 * checksums it there, and sends how much it added down data; we
	 * copy out of it and say how much we took on release.  NULL: the
	 * data comes down the data pipe itself.
	 */
	char *ring;
	size_t ring_len;
	uint64_t produced, consumed;
	int release;
	size_t npart;			/* bytes of a count read so far */
	uint8_t part[8];
};

int pgc_img_parser_start(struct pgc_img_parser *p, int in,
			 const struct pgc_request *req, struct pgc_img *img);
int pgc_img_parser_read(struct pgc_img_parser *p, void *buf, size_t len);
/*
 * The next @len bytes (at most pgc_img_parser_max()) of the data area: *@at
 * points at them in the ring, or at @buf, into which they were read.
 * They stay there until pgc_img_parser_done() hands them back.
 */
int pgc_img_parser_data(struct pgc_img_parser *p, void *buf, size_t len,
			void **at);
int pgc_img_parser_done(struct pgc_img_parser *p, size_t len);
/* The most pgc_img_parser_data() takes at once. */
size_t pgc_img_parser_max(const struct pgc_img_parser *p);
int pgc_img_parser_finish(struct pgc_img_parser *p);
void pgc_img_parser_stop(struct pgc_img_parser *p);
/* The records themselves (the fuzzer's way in): encode what a checked
 * image holds; decode, taking @buf (malloc'd), and check again. */
int pgc_img_wire_encode(const struct pgc_img *img, uint8_t **out, size_t *len);
int pgc_img_wire_decode(uint8_t *buf, size_t len, struct pgc_img *img);

/*
 * Data moves in batches of up to PGC_IMG_CHUNK bytes and
 * PGC_IMG_IOV_BATCH pieces: one write() per batch when dumping (each
 * piece pread() from /proc/PID/mem), one read() and one
 * process_vm_writev() when restoring, whatever the extents' sizes, so a
 * sparse range costs what its pages cost.  Each piece feeds one DATA
 * extent's checksum.
 */
#define PGC_IMG_CHUNK (4u << 20)
#define PGC_IMG_IOV_BATCH 1024

struct pgc_img_batch {
	char *buf;			/* cap bytes */
	size_t cap;			/* bytes a batch takes: PGC_IMG_CHUNK or less */
	size_t used, nr, niov;
	struct iovec liov[PGC_IMG_IOV_BATCH], riov[PGC_IMG_IOV_BATCH];
	struct {
		size_t off, len;
		uint64_t k;		/* DATA extent index */
	} piece[PGC_IMG_IOV_BATCH];
};

/* A batch of at most @cap bytes (PGC_IMG_CHUNK at most). */
struct pgc_img_batch *pgc_img_batch_new(size_t cap);
void pgc_img_batch_free(struct pgc_img_batch *b);
/* Bytes a new piece may take now; 0 means: flush first. */
size_t pgc_img_batch_room(const struct pgc_img_batch *b);
/* Append @n bytes of extent @k; with @remote, also an iovec pairing the
 * buffer with that address in the other process. */
void pgc_img_batch_add(struct pgc_img_batch *b, uint64_t k, size_t n,
		       uint64_t remote);
size_t pgc_img_batch_iov_bytes(const struct pgc_img_batch *b);
/* Feed every piece to its extent's checksum (unless @crcs is NULL), then
 * empty the batch. */
void pgc_img_batch_done(struct pgc_img_batch *b, uint32_t *crcs);

/*
 * update.c: restore --update, the delta written into the live clone of
 * its parent.  Pieces of the target, [addr, addr + len), with their bytes
 * at off in a store's buffer (none for drop and fresh).
 */
struct pgc_upiece {
	uint64_t addr, len;
	size_t off;
};
struct pgc_store {
	char *buf;
	size_t len, cap;
	struct pgc_upiece *p;
	size_t n, cap_p;
};
struct pgc_uprot {
	uint64_t addr, len;
	uint32_t from, to;
};
struct pgc_update {
	pid_t pid;
	int mem, pagemap;		/* the target's, opened before ready */
	struct pgc_store put;		/* the delta's pages, checked: to write */
	struct pgc_store undo;		/* what writes and drops replace */
	struct pgc_store fresh;		/* written where nothing was populated */
	struct pgc_store drop;		/* pages the delta no longer has */
	struct pgc_uprot *prot;		/* protections the delta changed */
	size_t n_prot, prot_done;
	bool changing;			/* the target may differ: roll back */
	uint64_t pages_written, pages_dropped;
};
struct pgc_remote;
int pgc_update_open(struct pgc_update *up, pid_t pid);
void pgc_update_close(struct pgc_update *up);
/* Before anything changes: the target holds @want (or zeroes) there? */
int pgc_update_compare(struct pgc_update *up, uint64_t addr, const void *want,
		       size_t len);
int pgc_update_check_zero(struct pgc_update *up, uint64_t addr, uint64_t len);
/* Note what the update does: pages to write, to drop, protections. */
int pgc_update_put(struct pgc_update *up, uint64_t addr, const void *buf,
		   size_t len);
int pgc_update_drop(struct pgc_update *up, uint64_t addr, uint64_t len);
int pgc_update_protect(struct pgc_update *up, uint64_t addr, uint64_t len,
		       uint32_t from, uint32_t to);
/* Keep what the pages to write replace (before apply: nothing changes). */
int pgc_update_keep(struct pgc_update *up);
/* Do it (fault points "written", "dropped"); on failure, roll back. */
int pgc_update_apply(struct pgc_update *up, struct pgc_remote *rem,
		     const struct pgc_request *req);
/* Returns how many pieces could not be put back (0: as it was). */
int pgc_update_rollback(struct pgc_update *up, struct pgc_remote *rem);

/*
 * live.c: when a live dump's pre-copy stops, and each round's report.
 * dump.c calls scanned (with the bytes the round found written), final,
 * armed when it re-armed tracking and lets the source run, done once the
 * round is in the stream.
 */
struct pgc_live {
	const struct pgc_request *req;
	unsigned int round;		/* the round being taken */
	uint64_t t_start, t_armed;	/* when tracking was last armed */
	double rate;			/* bytes/s the last large round wrote */
	double dirty_rate;		/* bytes/s written since the last arm */
	uint64_t bytes;			/* bytes in the stream so far */
	uint64_t scan_ns;		/* the round's stop before its write */
};
void pgc_live_start(struct pgc_live *l, const struct pgc_request *req);
void pgc_live_scanned(struct pgc_live *l, uint64_t bytes);
bool pgc_live_final(const struct pgc_live *l, uint64_t bytes);
void pgc_live_armed(struct pgc_live *l);
void pgc_live_done(struct pgc_live *l, bool final, uint64_t data_len,
		   uint64_t stored, uint64_t write_ns, uint64_t round_ns,
		   uint64_t stopped_ns);

/* A manifest range as the public API shows one (name not copied). */
void pgc_img_range_public(const Pgclone__Range *r, uint32_t page_size,
			  struct pgclone_range *p);

/* Round @n up to @align (a power of two). */
static inline uint64_t pgc_align_up(uint64_t n, uint64_t align)
{
	return (n + align - 1) & ~(align - 1);
}

#endif
