// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dump.c - write ranges of a live process to an image, in one pass.
 *
 * The source is frozen (unless asked not to), planned from /proc, and the
 * page walk (proc/pagewalk.c) decides what is stored: present and swapped
 * pages as data, the shared zero page (the huge one too) as a ZERO extent
 * (recorded, not stored), untouched pages not at all.  The walk costs what
 * the populated pages cost, not the length of the range, where the kernel
 * has PAGEMAP_SCAN.  The manifest can therefore be written before the
 * data, and a reader never has to seek.
 *
 * Everything is read through three descriptors -- smaps, pagemap, mem --
 * opened, with the capability each takes, before the caller's ready
 * callback.  The kernel checks access when they are opened, not when they
 * are read, so a caller may drop every capability there (pgclone(1)
 * does) and read the process with none. *
 * With PGCLONE_SNAPSHOT the three are the snapshot's (engine/snapshot.c):
 * the source is stopped only while it forks, and the image is the
 * instant of that fork however long writing it takes.  Where the kernel
 * has process_vm_mmap(2) (engine/snapkernel.c) smaps is the source's,
 * read while it is stopped, and pagemap and mem are those of a helper of
 * ours into which each planned range is cloned before the source runs
 * again; each range is read at its shift there.
 *
 * With PGCLONE_TRACK the dump also arms written-page tracking
 * (proc/softdirty.c): once the image is written, while the source is
 * still frozen, it records a new generation and clears the source's
 * soft-dirty bits.  With PGCLONE_DELTA it is a delta of the image on
 * parent_fd, which must carry the generation the record names: the walk
 * reads the soft-dirty bits with everything else, and a populated page
 * of the process's own that was not written since and that the parent
 * holds is a PARENT extent, not stored.  Anything else is stored as
 * before -- what was written, the zero page, page cache and shared pages
 * (which other processes and write(2) change without a fault here), and
 * pages the parent does not hold -- so a delta is never wrong for want
 * of a page, only larger.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../engine/snapshot.h"
#include "../inject/inject.h"
#include "../proc/uffdwp.h"
#include "image.h"

/* Addresses [start, end) of pages a parent image holds. */
struct span {
	uint64_t start, end;
};

struct dumper {
	const struct pgc_request *req;
	pid_t pid;
	pid_t read_pid;			/* whose memory is read: pid or its snapshot */
	bool kernel_snap;		/* read_pid: a helper the kernel fills */
	const int64_t *shift;		/* per range, where read_pid holds it less
					 * where pid has it; NULL: nowhere else */
	int out;
	Pgclone__Manifest m;
	Pgclone__Source src;
	Pgclone__Range *ranges;
	Pgclone__Range **rptr;
	Pgclone__FileIdentity *files;
	Pgclone__Extent *ext;
	Pgclone__Extent **eptr;
	size_t n_ext, cap_ext;
	uint64_t data_len;
	struct utsname uts;
	char comm[32];
	int smaps, mem;			/* of the source, opened before ready */
	struct pgc_walk walk;		/* its pagemap, opened before ready too */
	Pgclone__Compression comp;
	struct pgc_zstd *z;		/* compressing: the block writer */
	uint8_t *zbuf;			/* one batch, as blocks */
	uint64_t stored;		/* bytes the data area took */
	/* PGCLONE_TRACK, PGCLONE_DELTA */
	struct pgc_track track;
	uint64_t start_time, boot_hi, boot_lo;
	Pgclone__Tracking tracking;
	Pgclone__Parent pref;
	struct pgc_img parent;		/* a delta: the parent's head */
	struct span *held;		/* what the parent holds, in order */
	size_t n_held;
	uint64_t pages_parent;		/* left to the parent */
	uint32_t manifest_crc;		/* of the image last written */
	Pgclone__Live live;		/* PGCLONE_LIVE: the round being taken */
	uint64_t live_bytes;		/* ... and the data of every round */
	struct pgc_remote rem;		/* uffd-wp: begun before ready */
	bool rem_begun;
	/* PGCLONE_LIVE with uffd-wp: tracking armed by this dump, to end */
	bool live_armed;
	bool live_created;		/* ... with a userfaultfd it created */
	size_t untrack_i;		/* uffd-wp, after the stream: the mapping */
	uint64_t untrack_at;		/* ... and the address the next stop unregisters */
};

/* Record @nr pages at @off of range @range, merged with the last extent. */
static int add_extent(struct dumper *d, uint32_t range, uint64_t off,
		      uint64_t nr, Pgclone__ExtentKind kind, bool anon)
{
	Pgclone__Extent *last = d->n_ext ? &d->ext[d->n_ext - 1] : NULL;
	bool data = kind == PGCLONE__EXTENT_KIND__DATA;

	if (kind == PGCLONE__EXTENT_KIND__PARENT)
		d->pages_parent += nr;
	if (last && last->range == range && last->kind == kind &&
	    last->anon == anon &&
	    last->offset + last->nr_pages * PGC_PAGE_SIZE == off) {
		last->nr_pages += nr;
		if (data)
			d->data_len += nr * PGC_PAGE_SIZE;
		return 0;
	}
	if (d->n_ext == d->cap_ext) {
		size_t cap = d->cap_ext ? d->cap_ext * 2 : 256;
		Pgclone__Extent *e = realloc(d->ext, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		d->ext = e;
		d->cap_ext = cap;
	}
	last = &d->ext[d->n_ext++];
	pgclone__extent__init(last);
	last->has_range = last->has_offset = last->has_nr_pages = true;
	last->has_kind = last->has_anon = true;
	last->range = range;
	last->offset = off;
	last->nr_pages = nr;
	last->kind = kind;
	last->anon = anon;
	if (data) {
		last->has_data_off = true;
		last->data_off = d->data_len;
		d->data_len += nr * PGC_PAGE_SIZE;
	}
	return 0;
}

struct walked {
	struct dumper *d;
	uint32_t idx;			/* of the range walked */
	uint64_t start;			/* its first address */
};

/*
 * A run of populated pages.  The zero page is a ZERO extent when the walk
 * can tell it (PAGEMAP_SCAN, or its pfn); a walk that cannot reports it as
 * data, and it is stored as data, as it always was.  "anon": the source's
 * own page, not page cache, which a file-backed range's restore takes
 * from the file; the zero page counts as the source's own.
 */
static int add_run(const struct walked *w, uint64_t start, uint64_t end,
		   Pgclone__ExtentKind kind, bool anon)
{
	return add_extent(w->d, w->idx, start - w->start,
			  (end - start) / PGC_PAGE_SIZE, kind, anon);
}

/* The first span the parent holds that ends after @addr. */
static size_t held_from(const struct dumper *d, uint64_t addr)
{
	size_t lo = 0, hi = d->n_held;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->held[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A run of the process's own pages not written since the parent: what
 * the parent holds of it is left to the parent, the rest stored.
 */
static int add_unwritten(const struct walked *w, uint64_t start, uint64_t end)
{
	const struct dumper *d = w->d;
	const Pgclone__ExtentKind DATA = PGCLONE__EXTENT_KIND__DATA;
	int ret = 0;

	for (size_t i = held_from(d, start); !ret && start < end && i < d->n_held; i++) {
		uint64_t a = d->held[i].start > start ? d->held[i].start : start;
		uint64_t b = d->held[i].end < end ? d->held[i].end : end;

		if (a >= end)
			break;
		if (a > start)
			ret = add_run(w, start, a, DATA, true);
		if (!ret)
			ret = add_run(w, a, b, PGCLONE__EXTENT_KIND__PARENT, true);
		start = b;
	}
	if (!ret && start < end)
		ret = add_run(w, start, end, DATA, true);
	return ret;
}

static int classify(const struct walked *w, uint64_t start, uint64_t end,
		    unsigned int cats)
{
	if (cats & PGC_PG_ZERO)
		return add_run(w, start, end, PGCLONE__EXTENT_KIND__ZERO, true);
	if (w->d->held && !(cats & (PGC_PG_FILE | PGC_PG_DIRTY)))
		return add_unwritten(w, start, end);
	return add_run(w, start, end, PGCLONE__EXTENT_KIND__DATA,
		       !(cats & PGC_PG_FILE));
}

/* Where the page at @addr of range @range is read. */
static uint64_t read_at(const struct dumper *d, uint32_t range, uint64_t addr)
{
	return d->shift ? addr + (uint64_t)d->shift[range] : addr;
}

/* Read the page at @addr of range @range of the source into @page. */
static int read_page(const struct dumper *d, uint32_t range, uint64_t addr,
		     void *page)
{
	if (pread(d->mem, page, PGC_PAGE_SIZE, (off_t)read_at(d, range, addr)) !=
	    (ssize_t)PGC_PAGE_SIZE)
		return pgc_fail(-ESRCH, "cannot read 0x%llx of PID %d (did it exit?)",
				(unsigned long long)addr, (int)d->read_pid);
	return 0;
}

static bool all_zero(const char *page)
{
	const uint64_t *w = (const uint64_t *)page;

	for (size_t i = 0; i < PGC_PAGE_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Pages whose bits alone do not say whether the parent's copy is still
 * theirs, read and decided one by one:
 *
 *  - a walk that cannot tell the zero page from data (pagemap, page frame
 *    numbers hidden) sees a page dropped (MADV_DONTNEED) and read again
 *    since the parent as an unwritten page of the process's own: the zero
 *    page takes no write fault.  A page of zero bytes is stored, never
 *    left to the parent;
 *  - tests on a kernel without soft-dirty (PGCLONE_FAULT_SOFTDIRTY=
 *    emulate): a page is written when its bytes hash otherwise.
 */
static int classify_pages(const struct walked *w, uint64_t start,
			  uint64_t end, unsigned int cats)
{
	static char page[PGC_PAGE_SIZE] __attribute__((aligned(8)));
	const struct dumper *d = w->d;
	bool zero_unknown = d->walk.how == PGC_WALK_PAGEMAP;
	int ret = 0;

	for (uint64_t a = start; !ret && a < end; a += PGC_PAGE_SIZE) {
		unsigned int c = cats;

		ret = read_page(d, w->idx, a, page);
		if (!ret && pgc_track_emulated(&d->track) &&
		    pgc_track_emul_dirty(&d->track, a, page))
			c |= PGC_PG_DIRTY;
		if (!ret && zero_unknown && !(c & PGC_PG_DIRTY) && all_zero(page))
			c |= PGC_PG_DIRTY;
		if (!ret)
			ret = classify(w, a, a + PGC_PAGE_SIZE, c);
	}
	return ret;
}

static int add_walked(void *ctx, uint64_t start, uint64_t end, unsigned int cats)
{
	const struct walked *w = ctx;
	const struct dumper *d = w->d;
	uint64_t shift = read_at(d, w->idx, 0);

	/* back to the source's addresses, from the snapshot helper's */
	start -= shift;
	end -= shift;

	if (d->held && !(cats & (PGC_PG_ZERO | PGC_PG_FILE | PGC_PG_DIRTY)) &&
	    (d->walk.how == PGC_WALK_PAGEMAP || pgc_track_emulated(&d->track)))
		return classify_pages(w, start, end, cats);
	return classify(w, start, end, cats);
}

/* The emulation's state at arming: a hash of every own page the image holds. */
static int note_emulated(struct dumper *d)
{
	static char page[PGC_PAGE_SIZE];
	int ret = 0;

	for (size_t i = 0; !ret && i < d->n_ext; i++) {
		const Pgclone__Extent *e = &d->ext[i];
		uint64_t a = d->rptr[e->range]->start + e->offset;

		if (e->kind == PGCLONE__EXTENT_KIND__ZERO || !e->anon)
			continue;
		for (uint64_t n = 0; !ret && n < e->nr_pages; n++, a += PGC_PAGE_SIZE) {
			ret = read_page(d, e->range, a, page);
			if (!ret)
				ret = pgc_track_emul_note(&d->track, a, page);
		}
	}
	return ret;
}

static int scan_range(struct dumper *d, uint32_t idx)
{
	const Pgclone__Range *r = d->rptr[idx];
	struct walked w = { d, idx, r->start };
	int ret = pgc_walk_range(&d->walk, read_at(d, idx, r->start),
				 read_at(d, idx, r->end), add_walked, &w);

	if (ret && ret != -ENOMEM)
		return pgc_fail(-EIO, "cannot read the pagemap of PID %d", (int)d->pid);
	return ret;
}

static void fill_range(struct dumper *d, size_t i, const struct pgclone_range *pr,
		       const struct pgc_vma *v)
{
	Pgclone__Range *r = &d->ranges[i];
	Pgclone__FileIdentity *f = &d->files[i];

	pgclone__range__init(r);
	r->has_start = r->has_end = r->has_prot = r->has_kind = true;
	r->has_advice = r->has_src_start = r->has_src_end = true;
	r->start = pr->map.start;
	r->end = pr->map.end;
	r->prot = pr->map.prot;
	r->kind = (Pgclone__Kind)pr->map.kind;
	r->advice = pr->map.advice;
	r->name = (char *)pr->map.name;
	r->src_start = v->m.start;
	r->src_end = v->m.end;
	if (pr->map.ino) {
		pgclone__file_identity__init(f);
		f->path = (char *)pr->map.name;
		f->has_dev = f->has_ino = f->has_offset = true;
		f->dev = pr->map.dev;
		f->ino = pr->map.ino;
		f->offset = pr->map.offset;
		r->file = f;
	}
	d->rptr[i] = r;
}

static void fill_source(struct dumper *d, bool frozen)
{
	struct timespec ts;

	pgclone__source__init(&d->src);
	uname(&d->uts);
	clock_gettime(CLOCK_REALTIME, &ts);
	d->src.tool_version = (char *)pgclone_version();
	d->src.kernel = d->uts.release;
	d->src.arch = d->uts.machine;
	d->src.comm = d->comm;
	d->src.has_page_size = d->src.has_pid = d->src.has_time_ns = true;
	d->src.has_frozen = true;
	d->src.page_size = (uint32_t)PGC_PAGE_SIZE;
	d->src.pid = d->pid;
	d->src.time_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	d->src.frozen = frozen;
	if (d->start_time) {
		d->src.has_start_time = d->src.has_boot_id_hi = d->src.has_boot_id_lo = true;
		d->src.start_time = d->start_time;
		d->src.boot_id_hi = d->boot_hi;
		d->src.boot_id_lo = d->boot_lo;
	}
}

static int write_head(struct dumper *d)
{
	size_t mlen = pgclone__manifest__get_packed_size(&d->m);
	struct pgc_img_header h = {
		.major = PGC_IMG_MAJOR, .minor = PGC_IMG_MINOR,
		.hdr_size = PGC_IMG_HDR_SIZE, .page_size = (uint32_t)PGC_PAGE_SIZE,
		.manifest_len = mlen, .data_len = d->data_len,
		.incompat = d->z ? PGC_IMG_INCOMPAT_ZSTD : 0,
	};
	size_t total;
	uint8_t *buf;
	int ret;

	if (d->m.parent)
		h.incompat |= PGC_IMG_INCOMPAT_DELTA;
	if (d->m.live)
		h.incompat |= PGC_IMG_INCOMPAT_LIVE;
	if (mlen > PGC_IMG_MAX_MANIFEST)
		return pgc_fail(-ENOMEM, "the manifest would be %zu bytes: too many ranges",
				mlen);
	h.data_off = pgc_align_up(PGC_IMG_HDR_SIZE + mlen, PGC_PAGE_SIZE);
	total = (size_t)h.data_off;
	buf = calloc(1, total);
	if (!buf)
		return -ENOMEM;
	pgclone__manifest__pack(&d->m, buf + PGC_IMG_HDR_SIZE);
	h.manifest_crc = pgc_crc32c(0, buf + PGC_IMG_HDR_SIZE, mlen);
	d->manifest_crc = h.manifest_crc;
	pgc_img_header_encode(&h, buf);
	ret = pgc_img_write_full(d->out, buf, total);
	free(buf);
	return ret;
}

/*
 * Each piece of a batch is part of one extent: compressed, it is one
 * block (image.h), so no block spans two extents and none is larger than
 * the batch.  Only the batch is ever held, compressed or not: a dump
 * through a pipe streams.
 */
static size_t pack_batch(struct dumper *d, const struct pgc_img_batch *b)
{
	size_t len = 0;

	for (size_t i = 0; i < b->nr; i++)
		len += pgc_zstd_pack(d->z, b->buf + b->piece[i].off,
				     b->piece[i].len, d->zbuf + len);
	return len;
}

static int flush_batch(struct dumper *d, struct pgc_img_batch *b,
		       uint32_t *crcs)
{
	int err = pgc_step(d->req, "batch");
	size_t len = b->used;

	if (err)
		return err;
	if (d->z)
		len = pack_batch(d, b);
	if (pgc_img_write_full(d->out, d->z ? d->zbuf : (uint8_t *)b->buf, len))
		return -EIO;
	d->stored += len;
	pgc_img_batch_done(b, crcs);
	return 0;
}

/*
 * Read @n bytes at @addr into the batch.  /proc/PID/mem reads what the
 * process itself may not (PROT_NONE, exec-only) and needs no capability
 * once open.
 */
static int queue_piece(struct dumper *d, struct pgc_img_batch *b,
		       uint64_t addr, size_t n, uint64_t k)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(d->mem, b->buf + b->used + got, n - got,
				  (off_t)(addr + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return pgc_fail(-ESRCH, "cannot read 0x%llx of PID %d (did it exit?)",
					(unsigned long long)(addr + got), (int)d->read_pid);
		got += (size_t)r;
	}
	pgc_img_batch_add(b, k, n, 0);
	return 0;
}

/*
 * Bytes per write() of an uncompressed image.  The batch buffer is touched
 * afresh by the first batch only, but that costs a page fault per page:
 * with 4 MiB (1024 faults) they were 20 of the 38 ms of a 1%-touched
 * 1 GiB dump on a nested VM (issue 13).  256 KiB also stays in cache from
 * pread() to write(); more write()s cost nothing measurable.  A zstd
 * block is a batch, so compressed images keep whole chunks.
 */
#define RAW_BATCH_BYTES (256u << 10)

/* Stream every DATA extent from the source to the image. */
static int write_data(struct dumper *d, const struct pgc_request *req,
		      uint32_t *crcs)
{
	struct pgc_img_batch *b =
		pgc_img_batch_new(d->z ? PGC_IMG_CHUNK : RAW_BATCH_BYTES);
	uint64_t done = 0, k = 0;
	int ret = 0;

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < d->n_ext; i++) {
		const Pgclone__Extent *e = &d->ext[i];
		const Pgclone__Range *r = d->rptr[e->range];
		uint64_t addr = read_at(d, e->range, r->start + e->offset);
		uint64_t left = e->nr_pages * PGC_PAGE_SIZE;

		if (e->kind != PGCLONE__EXTENT_KIND__DATA)
			continue;
		while (!ret && left) {
			size_t n = pgc_img_batch_room(b);

			if (!n) {
				done += b->used;
				ret = flush_batch(d, b, crcs);
				if (!ret && pgc_cancelled(req, done, d->data_len))
					ret = pgc_fail(-EINTR, "interrupted");
				continue;
			}
			if (n > left)
				n = (size_t)left;
			ret = queue_piece(d, b, addr, n, k);
			addr += n;
			left -= n;
		}
		k++;
	}
	if (!ret)
		ret = flush_batch(d, b, crcs);
	pgc_img_batch_free(b);
	return ret;
}

static int write_trailer(struct dumper *d, const uint32_t *crcs, uint64_t n)
{
	size_t len = pgc_img_trailer_size(n);
	uint8_t *buf = malloc(len);
	int ret;

	if (!buf)
		return -ENOMEM;
	pgc_img_trailer_encode(buf, crcs, n);
	ret = pgc_img_write_full(d->out, buf, len);
	free(buf);
	return ret;
}

/* Every clonable mapping of the process, as a plan. */
static int plan_all(struct pgc_plan *plan, pid_t pid,
		    const struct pgc_vma_list *maps)
{
	memset(plan, 0, sizeof(*plan));
	plan->src_pid = plan->dst_pid = pid;
	/* ranges land where they are: dst == src throughout */
	for (size_t i = 0; i < maps->n; i++) {
		const struct pgc_vma *v = &maps->v[i];

		if (v->m.refusal != PGCLONE_OK) {
			pr_info("not dumping 0x%llx-0x%llx %s: %s",
				(unsigned long long)v->m.start,
				(unsigned long long)v->m.end, v->name,
				pgclone_refusal_name(v->m.refusal));
			continue;
		}
		if (pgc_plan_push(plan, v, v->m.start, v->m.end))
			return -ENOMEM;
	}
	if (!plan->n)
		return pgc_fail(-EFAULT, "PID %d has nothing that can be dumped", (int)pid);
	plan->src = plan->r[0].map.start;
	plan->dst = plan->src;
	plan->len = plan->r[plan->n - 1].map.end - plan->src;
	return 0;
}

/*
 * Everything the dump reads of the source, opened now: the kernel checks
 * access at open, so the caller's ready callback may drop every capability.
 * The pin then proves the descriptors are of the process that was checked,
 * not of a newcomer given its PID.
 */
static int open_source(struct dumper *d)
{
	char path[64];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)d->pid);
	f = fopen(path, "re");
	if (!f || !fgets(d->comm, sizeof(d->comm), f))
		d->comm[0] = '\0';
	if (f)
		fclose(f);
	d->comm[strcspn(d->comm, "\n")] = '\0';
	/* a kernel snapshot is planned from the source, stopped */
	d->smaps = pgc_maps_open(d->kernel_snap ? d->pid : d->read_pid);
	if (d->smaps < 0)
		return d->smaps;
	/* pfns, its own and the zero page's: CAP_SYS_ADMIN, at open */
	ret = pgc_walk_open(&d->walk, d->read_pid);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)d->read_pid);
	d->mem = pgc_proc_open(path, O_RDONLY);
	if (d->mem < 0)
		return pgc_fail(-EPERM, "cannot open %s", path);
	/* a forked snapshot is our own child: it is what it was, source or not */
	if (d->read_pid != d->pid && !d->kernel_snap)
		return 0;
	return pgc_pin_check(d->req->src_pin, d->pid);
}

static void close_source(struct dumper *d)
{
	int *fds[] = { &d->smaps, &d->mem };

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	pgc_walk_close(&d->walk);
}

static int build_manifest(struct dumper *d, struct pgc_plan *plan, bool frozen)
{
	int ret = 0;

	d->ranges = calloc(plan->n, sizeof(*d->ranges));
	d->rptr = calloc(plan->n, sizeof(*d->rptr));
	d->files = calloc(plan->n, sizeof(*d->files));
	if (!d->ranges || !d->rptr || !d->files)
		return -ENOMEM;
	for (size_t i = 0; i < plan->n; i++)
		fill_range(d, i, &plan->r[i], plan->src_vma[i]);
	if (d->req->flags & PGCLONE_TRACK) {
		/* what a delta of this one reads, and what this one (a delta) read */
		d->tracking.has_method = d->held != NULL;
		d->tracking.method = d->held ?
			(Pgclone__TrackMethod)pgc_walk_track(&d->walk,
					d->track.mode == PGC_TRACK_UFFD_WP) :
					       PGCLONE__TRACK_METHOD__TRACK_NONE;
	}
	for (size_t i = 0; !ret && i < plan->n; i++) {
		const struct pgc_vma *v = plan->src_vma[i];

		/* a live round re-protects each written page as it finds it */
		d->walk.rearm = d->live_armed && v->m.kind == PGCLONE_KIND_ANON_PRIVATE &&
				(v->vmflags & VMF_UFFD_WP);
		ret = scan_range(d, (uint32_t)i);
	}
	d->walk.rearm = false;
	if (ret)
		return ret;
	d->eptr = calloc(d->n_ext ? d->n_ext : 1, sizeof(*d->eptr));
	if (!d->eptr)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_ext; i++) {
		Pgclone__Extent *e = &d->ext[i];

		d->eptr[i] = e;
		plan->r[e->range].pages_present += e->nr_pages;
		if (e->kind == PGCLONE__EXTENT_KIND__DATA)
			plan->r[e->range].pages_copied += e->nr_pages;
	}
	fill_source(d, frozen);
	pgclone__manifest__init(&d->m);
	if (d->z) {
		pgclone__compression__init(&d->comp);
		d->comp.has_codec = d->comp.has_level = true;
		d->comp.codec = PGCLONE__CODEC__ZSTD;
		d->comp.level = d->req->compress_level;
		d->m.compression = &d->comp;
	}
	d->m.source = &d->src;
	d->m.n_ranges = plan->n;
	d->m.ranges = d->rptr;
	d->m.n_extents = d->n_ext;
	d->m.extents = d->eptr;
	if (getrandom(&d->m.id_hi, sizeof(d->m.id_hi), 0) != sizeof(d->m.id_hi) ||
	    getrandom(&d->m.id_lo, sizeof(d->m.id_lo), 0) != sizeof(d->m.id_lo))
		return pgc_fail(-EIO, "cannot choose an id for the image: %s", strerror(errno));
	d->m.has_id_hi = d->m.has_id_lo = true;
	if (d->req->flags & PGCLONE_TRACK)
		d->m.tracking = &d->tracking;
	if (d->held)
		d->m.parent = &d->pref;
	if (d->req->flags & PGCLONE_LIVE)
		d->m.live = &d->live;
	return 0;
}

/* The spans of the process's own pages the parent holds, in order. */
static int parent_spans(struct dumper *d)
{
	const Pgclone__Manifest *m = d->parent.m;

	d->held = calloc(m->n_extents ? m->n_extents : 1, sizeof(*d->held));
	if (!d->held)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		uint64_t a = m->ranges[e->range]->start + e->offset;
		uint64_t b = a + e->nr_pages * PGC_PAGE_SIZE;

		if (e->kind == PGCLONE__EXTENT_KIND__DATA && !e->anon)
			continue;	/* page cache: a delta stores it again */
		if (d->n_held && d->held[d->n_held - 1].end == a)
			d->held[d->n_held - 1].end = b;
		else
			d->held[d->n_held++] = (struct span){ a, b };
	}
	return 0;
}

/* The image on parent_fd, read and checked against the source. */
static int read_parent(struct dumper *d, bool all)
{
	const Pgclone__Manifest *m;
	const Pgclone__Source *s;
	int ret = pgc_img_read_head(d->req->parent_fd, &d->parent);

	if (ret) {
		char why[256];

		snprintf(why, sizeof(why), "%s", pgclone_last_error());
		pgc_clear_error();
		return pgc_fail(ret, "--parent: %s", why);
	}
	m = d->parent.m;
	s = m->source;
	if (m->live)
		return pgc_fail(-EINVAL, "--parent: that is a live stream, restored alone: it cannot be a parent");
	if (!m->tracking || !m->tracking->has_generation || !m->has_id_hi ||
	    !m->has_id_lo)
		return pgc_fail(-EINVAL, "--parent: that image was dumped without --track: it cannot be a parent");
	if (d->parent.h.page_size != PGC_PAGE_SIZE)
		return pgc_fail(-EINVAL, "--parent: that image's page size is %u, not %llu",
				d->parent.h.page_size, PGC_PAGE_SIZE);
	if (!s->has_boot_id_hi || !s->has_boot_id_lo || s->boot_id_hi != d->boot_hi ||
	    s->boot_id_lo != d->boot_lo)
		return pgc_fail(-EINVAL, "--parent: that image was dumped before this machine last booted: it cannot be a parent");
	if (!s->has_pid || s->pid != d->pid || !s->has_start_time ||
	    s->start_time != d->start_time)
		return pgc_fail(-EINVAL, "--parent: that image is of PID %d started at tick %llu, not of PID %d started at tick %llu",
				s->has_pid ? (int)s->pid : 0,
				(unsigned long long)s->start_time, (int)d->pid,
				(unsigned long long)d->start_time);
	if (!!m->tracking->all != all)
		return pgc_fail(-EINVAL, "--parent: that image is a dump of %s, this one of %s: a delta covers what its parent covers",
				all ? "a range" : "every mapping (--all)",
				all ? "every mapping (--all)" : "a range");
	pgclone__parent__init(&d->pref);
	d->pref.has_id_hi = d->pref.has_id_lo = d->pref.has_manifest_crc = true;
	d->pref.has_generation = true;
	d->pref.id_hi = m->id_hi;
	d->pref.id_lo = m->id_lo;
	d->pref.manifest_crc = d->parent.h.manifest_crc;
	d->pref.generation = m->tracking->generation;
	return parent_spans(d);
}

/*
 * A dump without --track of a source pgclone tracks with uffd-wp reads
 * what tracking registered, and ends it (end_tracking()).  Not without a
 * freeze (nothing to run the syscalls in), nor with a snapshot (which
 * refuses a userfaultfd-registered source).
 */
static int peek_tracking(struct dumper *d)
{
	const struct pgc_request *req = d->req;
	uint64_t st, hi, lo;

	if (req->flags & (PGCLONE_NO_FREEZE | PGCLONE_SNAPSHOT))
		return 0;
	if (pgc_proc_start_time(d->pid, &st) || pgc_boot_id(&hi, &lo)) {
		pgc_clear_error();
		return 0;
	}
	return pgc_track_peek(&d->track, d->pid, st, hi, lo);
}

/* The image complete: unregister every mapping, close the descriptor. */
static int end_tracking(struct dumper *d, const struct pgc_vma_list *maps)
{
	const struct pgc_vma **v = calloc(maps->n ? maps->n : 1, sizeof(*v));
	size_t n = 0;
	int ret;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < maps->n; i++)
		if (maps->v[i].vmflags & VMF_UFFD_WP)
			v[n++] = &maps->v[i];
	ret = pgc_uffdwp_disarm(&d->rem, d->track.uffd_fd, v, n);
	free(v);
	if (!ret)
		ret = pgc_track_end(&d->track);
	if (!ret && !d->live_created)
		pr_info("ended uffd-wp tracking of PID %d: its images are parents no more",
			(int)d->pid);
	return ret;
}

/* A delta reads written pages the way its parent's dump armed tracking. */
static int check_parent_mode(const struct dumper *d)
{
	const struct pgc_track *t = &d->track;

	if (t->mode == PGC_TRACK_SOFT_DIRTY && t->uffd_recorded >= 0)
		return pgc_fail(-EINVAL, "--parent: that image's dump armed uffd-wp tracking of PID %d, and this one would read soft-dirty bits: give --track-method uffd-wp, or dump with --track alone",
				(int)d->pid);
	if (t->mode != PGC_TRACK_UFFD_WP || t->uffd_fd >= 0)
		return 0;
	if (t->uffd_recorded < 0)
		return pgc_fail(-EINVAL, "--parent: that image's dump armed soft-dirty tracking of PID %d, and this one would read uffd-wp's: give --track-method soft-dirty, or dump with --track alone",
				(int)d->pid);
	return pgc_fail(-EINVAL, "--parent: PID %d no longer holds the userfaultfd (descriptor %d) that tracked its writes since that image (it closed it, or exec'd): what it wrote since is unknown; dump with --track alone",
			(int)d->pid, t->uffd_recorded);
}

/* A walk of a process uffd-wp tracks: its markers are no pages. */
static void mark_wp_markers(struct dumper *d)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
	fd = pgc_proc_open(path, O_RDONLY);
	d->walk.wp_markers = true;
	/* "VmSwap:" counts swapped pages, never markers */
	d->walk.no_swap = fd >= 0 && !pgc_proc_kb(fd, "VmSwap:");
	if (fd >= 0)
		close(fd);
}

/*
 * uffd-wp: the mappings our own userfaultfd registered are read as any
 * other (pgc_uffdwp_check() refused one registered otherwise).
 */
static void accept_tracked(const struct dumper *d, struct pgc_vma_list *maps)
{
	if (d->track.uffd_fd < 0)
		return;
	for (size_t i = 0; i < maps->n; i++) {
		struct pgc_vma *v = &maps->v[i];

		/* VMF_UFFD_WP stays: end_tracking() unregisters by it */
		if ((v->vmflags & (VMF_UFFD | VMF_UFFD_WP | VMF_UFFD_MI)) ==
		    (VMF_UFFD | VMF_UFFD_WP)) {
			v->vmflags &= ~(unsigned int)VMF_UFFD;
			pgc_vma_classify(v);
		}
	}
}

/*
 * Arm tracking, the image complete and the source still frozen: the new
 * generation first, then the bits (soft-dirty) or the protection (uffd-wp,
 * in every mapping the plan holds).  A userfaultfd this dump created is
 * closed again if anything fails, here or later.
 */
static int arm_tracking(struct dumper *d, const struct pgc_plan *plan)
{
	struct pgc_track *t = &d->track;
	int ret = pgc_track_arm(t, d->tracking.generation);

	if (!ret && t->mode == PGC_TRACK_UFFD_WP) {
		ret = pgc_uffdwp_arm(&d->rem, d->walk.fd, plan->src_vma, plan->n,
				     &t->uffd_fd, &t->uffd_ino, &t->uffd_created);
		if (!ret)
			ret = pgc_track_note_uffd(t);
		if (!ret && t->uffd_created)
			pr_info("tracking PID %d's writes with uffd-wp: its descriptor %d is pgclone's userfaultfd",
				(int)d->pid, t->uffd_fd);
	}
	return ret ? ret : pgc_fault_point("armed");
}

/* A dump that failed leaves no userfaultfd of its own behind. */
static void undo_tracking(struct dumper *d, const struct pgc_plan *plan)
{
	struct pgc_track *t = &d->track;

	if (!t->uffd_created)
		return;
	if (pgc_uffdwp_disarm(&d->rem, t->uffd_fd, plan->src_vma, plan->n))
		pr_warn("PID %d keeps pgclone's userfaultfd (descriptor %d) after the failed dump",
			(int)d->pid, t->uffd_fd);
	t->uffd_created = false;
	t->uffd_fd = -1;
	if (pgc_track_note_uffd(t))
		pr_warn("the tracking record of PID %d still names descriptor %d",
			(int)d->pid, t->uffd_recorded);
}

/*
 * PGCLONE_TRACK: who the source is for good, the parent checked against
 * it, and what arming tracking writes opened while we may.  Before the
 * source stops: a refusal costs it nothing.
 */
static int prepare_tracking(struct dumper *d, bool all)
{
	const struct pgc_request *req = d->req;
	uint64_t gen = 0;
	int ret;

	if (!(req->flags & PGCLONE_TRACK))
		return peek_tracking(d);
	ret = pgc_proc_start_time(d->pid, &d->start_time);
	if (!ret)
		ret = pgc_boot_id(&d->boot_hi, &d->boot_lo);
	if (!ret && (req->flags & PGCLONE_DELTA))
		ret = read_parent(d, all);
	if (!ret)
		ret = pgc_track_open(&d->track, d->pid, d->start_time, d->boot_hi,
				     d->boot_lo, req->track);
	if (!ret && d->held && d->track.generation != d->pref.generation)
		ret = pgc_fail(-EINVAL, "--parent: that image is not the last dump that armed tracking of PID %d (a later one did, or one that failed): give the newest, or dump with --track alone",
			       (int)d->pid);
	if (!ret && d->held)
		ret = check_parent_mode(d);
	while (!ret && !gen)
		if (getrandom(&gen, sizeof(gen), 0) != sizeof(gen))
			ret = pgc_fail(-EIO, "cannot choose a tracking generation: %s",
				       strerror(errno));
	if (ret)
		return ret;
	pgclone__tracking__init(&d->tracking);
	d->tracking.has_generation = d->tracking.has_all = true;
	d->tracking.generation = gen;
	d->tracking.all = all;
	return 0;
}

/* A delta of a range covers what its parent covered, no more, no less. */
static int check_span(const struct dumper *d, const struct pgc_plan *plan)
{
	const Pgclone__Manifest *m = d->parent.m;
	uint64_t ps, pe, s, e;

	if (!d->held || m->tracking->all)
		return 0;
	ps = m->ranges[0]->start;
	pe = m->ranges[m->n_ranges - 1]->end;
	s = plan->r[0].map.start;
	e = plan->r[plan->n - 1].map.end;
	if (ps == s && pe == e)
		return 0;
	return pgc_fail(-EINVAL, "--parent: that image is of 0x%llx-0x%llx, this dump of 0x%llx-0x%llx: a delta covers what its parent covers",
			(unsigned long long)ps, (unsigned long long)pe,
			(unsigned long long)s, (unsigned long long)e);
}

/* What a dump of the range (or --all) takes, for the snapshot's refusals. */
static int plan_range(struct pgc_plan *plan, const struct pgc_request *req,
		      const struct pgc_vma_list *maps)
{
	return pgc_plan_build(plan, req->src_pid, maps, req->src, req->len, 0,
			      req->src);
}

static int plan_every(struct pgc_plan *plan, const struct pgc_request *req,
		      const struct pgc_vma_list *maps)
{
	return plan_all(plan, req->src_pid, maps);
}

/* Stop the source: for the whole dump, or for a snapshot of it. */
static int freeze(struct dumper *d, bool all, struct pgc_proc *proc,
		  struct pgc_snapshot *snap)
{
	const struct pgc_request *req = d->req;
	int ret;

	if (req->flags & PGCLONE_SNAPSHOT) {
		/* asked of the running source: a refusal costs it no stop */
		ret = pgc_snapshot_check(req, req->src_pid,
					 all ? plan_every : plan_range);
		if (!ret && d->kernel_snap)
			ret = pgc_snapshot_helper(snap, req->src_pid);
		else if (!ret)
			ret = pgc_snapshot_take(snap, req);
		if (!ret)
			d->read_pid = snap->child;
		/* the kernel's: stopped until the copies are in the helper */
		if (ret || !d->kernel_snap)
			return ret;
		snap->freeze_ns = pgc_now_ns();
	} else if (req->flags & PGCLONE_NO_FREEZE) {
		return 0;
	}
	ret = pgc_proc_seize(proc, req->src_pid);
	if (!ret)
		ret = pgc_pin_check(req->src_pin, req->src_pid);
	if (ret)
		pgc_proc_release(proc);
	if (ret && d->kernel_snap)
		(void)pgc_snapshot_drop(snap);
	return ret;
}

/* The kernel's snapshot: the planned ranges into the helper, then let go. */
static int snapshot_by_kernel(struct dumper *d, struct pgc_proc *proc,
			      struct pgc_snapshot *snap, const struct pgc_plan *plan)
{
	int ret = pgc_snapshot_map(snap, d->req, plan);

	pgc_proc_release(proc);
	snap->freeze_ns = pgc_now_ns() - snap->freeze_ns;
	if (ret)
		return ret;
	d->shift = snap->shift;
	pr_info("snapshot: PID %d was stopped for %.3f ms while process_vm_mmap(2) copied its page tables to helper %d",
		(int)d->pid, (double)snap->freeze_ns / 1e6, (int)snap->child);
	return pgc_step(d->req, "snapshot-taken");
}

/* ---- PGCLONE_LIVE: rounds into one stream (live.c decides) ---------- */

/* A range's layout, as round 0 found it: every round must find the same. */
struct shape {
	uint64_t start, end;
	uint32_t prot, kind;
};

/*
 * The round just written becomes the next one's parent: what it holds
 * (its own pages, the zero page, and what it left to its own parent)
 * and its identity; then its manifest is let go.
 */
static int next_round(struct dumper *d)
{
	struct span *held = calloc(d->n_ext ? d->n_ext : 1, sizeof(*held));
	size_t n = 0;

	if (!held)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_ext; i++) {
		const Pgclone__Extent *e = &d->ext[i];
		uint64_t a = d->rptr[e->range]->start + e->offset;
		uint64_t b = a + e->nr_pages * PGC_PAGE_SIZE;

		if (e->kind == PGCLONE__EXTENT_KIND__DATA && !e->anon)
			continue;	/* page cache: stored again */
		if (n && held[n - 1].end == a)
			held[n - 1].end = b;
		else
			held[n++] = (struct span){ a, b };
	}
	free(d->held);
	d->held = held;
	d->n_held = n;
	pgclone__parent__init(&d->pref);
	d->pref.has_id_hi = d->pref.has_id_lo = d->pref.has_manifest_crc = true;
	d->pref.has_generation = true;
	d->pref.id_hi = d->m.id_hi;
	d->pref.id_lo = d->m.id_lo;
	d->pref.manifest_crc = d->manifest_crc;
	d->pref.generation = d->tracking.generation;
	free(d->ext);
	free(d->eptr);
	free(d->ranges);
	free(d->rptr);
	free(d->files);
	d->ext = NULL;
	d->eptr = NULL;
	d->ranges = NULL;
	d->rptr = NULL;
	d->files = NULL;
	d->n_ext = d->cap_ext = 0;
	d->data_len = d->stored = d->pages_parent = 0;
	return 0;
}

/* The source's mappings now: planned, and as round 0 found them. */
static int live_plan(struct dumper *d, bool all, struct pgc_plan *plan,
		     struct shape **shape, size_t *n_shape)
{
	const struct pgc_request *req = d->req;
	struct pgc_vma_list maps;
	int fd = d->smaps >= 0 ? d->smaps : pgc_maps_open(d->pid);
	int ret;

	d->smaps = -1;
	if (fd < 0)
		return fd;
	pgc_plan_free(plan);
	memset(plan, 0, sizeof(*plan));
	ret = pgc_maps_read_fd(d->pid, fd, &maps);
	if (ret)
		return ret;
	accept_tracked(d, &maps);
	ret = all ? plan_all(plan, d->pid, &maps) :
		    pgc_plan_build(plan, d->pid, &maps, req->src, req->len, 0, req->src);
	plan->src_maps = maps;
	if (ret)
		return ret;
	if (!*shape) {
		*shape = calloc(plan->n, sizeof(**shape));
		if (!*shape)
			return -ENOMEM;
		*n_shape = plan->n;
		for (size_t i = 0; i < plan->n; i++)
			(*shape)[i] = (struct shape){ plan->r[i].map.start, plan->r[i].map.end,
						      plan->r[i].map.prot,
						      (uint32_t)plan->r[i].map.kind };
		return 0;
	}
	for (size_t i = 0; i < plan->n || i < *n_shape; i++) {
		const struct shape *s = i < *n_shape ? &(*shape)[i] : NULL;
		const struct pgclone_range *r = i < plan->n ? &plan->r[i] : NULL;

		if (!s || !r || s->start != r->map.start || s->end != r->map.end ||
		    s->prot != r->map.prot || s->kind != (uint32_t)r->map.kind)
			return pgc_fail(-EBUSY, "PID %d mapped, unmapped or changed the protection of 0x%llx during the live dump: its stream is cut here (dump again)",
					(int)d->pid,
					(unsigned long long)(r ? r->map.start : s->start));
	}
	return 0;
}

/* Stop the source again for a round's scan (round 0's stop is freeze()). */
static int live_stop(struct dumper *d, struct pgc_proc *proc)
{
	int ret = pgc_proc_seize(proc, d->pid);

	if (!ret)
		ret = pgc_pin_check(d->req->src_pin, d->pid);
	if (ret)
		pgc_proc_release(proc);
	return ret;
}

/* One image of the stream: header, manifest, data, trailer. */
static int write_round(struct dumper *d)
{
	uint64_t nr_data = 0;
	uint32_t *crcs;
	int ret;

	for (size_t i = 0; i < d->n_ext; i++)
		nr_data += d->ext[i].kind == PGCLONE__EXTENT_KIND__DATA;
	crcs = calloc(nr_data ? nr_data : 1, sizeof(*crcs));
	if (!crcs)
		return -ENOMEM;
	ret = write_head(d);
	if (!ret)
		ret = write_data(d, d->req, crcs);
	if (!ret)
		ret = write_trailer(d, crcs, nr_data);
	free(crcs);
	return ret;
}

/*
 * Re-arm tracking for the next round, with the source stopped.  The
 * order is what makes a round right while the source runs:
 *
 *   stopped:  read the written pages (the scan), then re-arm (clear the
 *             bits, write-protect the pages again, or note the hashes of
 *             what the pages hold now);
 *   running:  read the data of the pages the scan found.
 *
 * A page written after the re-arm is written again for the next round's
 * scan, whether the data read saw the write or not, or saw half of it (a
 * torn page): it is sent again.  Re-arming after the data read instead
 * would lose every write between the read and the re-arm.  And the scan
 * and the re-arm share one stop because soft-dirty has no atomic "read
 * and clear": a page first written between them would be cleared unseen.
 * uffd-wp has one: the scan's own PAGEMAP_SCAN protects again each page
 * it reports written (pgc_walk.rearm), so nothing, not even a write by
 * another process through /proc/PID/mem, falls between the two.
 */
static int live_arm_soft_dirty(struct dumper *d)
{
	int ret = 0;

	if (pgc_track_emulated(&d->track))
		ret = note_emulated(d);
	if (!ret)
		ret = pgc_track_arm(&d->track, d->tracking.generation);
	if (!ret && pgc_track_emulated(&d->track))
		pgc_track_emul_rotate(&d->track);
	return ret;
}

/* uffd-wp: syscalls in the stopped source, in a session of this stop's. */
static int live_remote(struct dumper *d, struct pgc_proc *proc,
		       int (*fn)(struct dumper *, const struct pgc_plan *),
		       const struct pgc_plan *plan)
{
	int ret = pgc_remote_begin(&d->rem, proc);

	if (ret)
		return ret == -EACCES ? -EPERM : ret;	/* seccomp strict mode */
	ret = fn(d, plan);
	if (pgc_remote_end(&d->rem) && !ret)
		ret = pgc_fail(-ESRCH, "PID %d exited while pgclone armed tracking in it",
			       (int)d->pid);
	return ret;
}

/*
 * uffd-wp, the first round the source runs on after: the userfaultfd in
 * the source (created, unless a dump with --track left one), each of its
 * own mappings registered, every populated page write-protected.
 */
static int live_arm_uffd(struct dumper *d, const struct pgc_plan *plan)
{
	int ret = arm_tracking(d, plan);

	d->live_created |= d->track.uffd_created;
	d->live_armed = d->track.uffd_fd >= 0;
	return ret;
}

/* The rounds after: the scan protected again what it found written. */
static int live_rearm_uffd(struct dumper *d, const struct pgc_plan *plan)
{
	int ret = 0;

	/* a walk without PAGEMAP_SCAN read the entries: now, still stopped */
	if (d->walk.how != PGC_WALK_SCAN)
		ret = pgc_uffdwp_protect(d->walk.fd, d->pid, plan->src_vma, plan->n);
	if (!ret)
		ret = pgc_track_arm(&d->track, d->tracking.generation);
	return ret ? ret : pgc_fault_point("armed");
}

static int live_arm(struct dumper *d, struct pgc_proc *proc, const struct pgc_plan *plan)
{
	int ret;

	if (d->track.mode != PGC_TRACK_UFFD_WP)
		return live_arm_soft_dirty(d);
	if (d->live_armed)
		return live_rearm_uffd(d, plan);
	ret = live_remote(d, proc, live_arm_uffd, plan);
	if (!ret)
		mark_wp_markers(d);
	return ret;
}

/*
 * uffd-wp, the final round, its written pages read: tracking ends in the
 * same stop, before anything of the round is written.  A stream is no
 * parent, so tracking would serve nothing: the registrations go, and the
 * userfaultfd is closed in the source, whoever created it (a dump with
 * --track before: its images are parents no more once a round re-armed).
 */
static int live_end_uffd(struct dumper *d, const struct pgc_plan *plan)
{
	int ret = end_tracking(d, &plan->src_maps);

	if (!ret)
		pr_debug("ended the live dump's uffd-wp tracking of PID %d",
			 (int)d->pid);
	return ret;
}

/*
 * Unregister what is registered now (the mappings read again), then
 * close the descriptor: in a stop of its own if the source runs
 * (@stopped false).
 */
static int live_end_now(struct dumper *d, struct pgc_proc *proc, bool stopped)
{
	struct pgc_plan now = { 0 };
	int ret = stopped ? 0 : live_stop(d, proc);

	if (!ret)
		ret = pgc_maps_read(d->pid, &now.src_maps);
	if (!ret)
		ret = live_remote(d, proc, live_end_uffd, &now);
	pgc_maps_free(&now.src_maps);
	if (!stopped)
		pgc_proc_release(proc);
	return ret;
}

/*
 * A live dump that failed leaves no userfaultfd of its own in the source,
 * nor a mapping registered with it, by the mappings as they are now.
 */
static void live_undo(struct dumper *d, struct pgc_proc *proc, bool stopped)
{
	struct pgc_track *t = &d->track;

	if (!d->live_created || t->uffd_fd < 0)
		return;
	if (live_end_now(d, proc, stopped))
		pr_warn("PID %d keeps pgclone's userfaultfd (descriptor %d) after the failed dump",
			(int)d->pid, t->uffd_fd);
	d->live_armed = d->live_created = false;
}

/*
 * The stream is complete, and ending tracking failed: what is left, and
 * why.  Nothing, if the source has exited meanwhile: its descriptor and
 * registrations went with it.
 */
static int kept_uffd(struct dumper *d)
{
	char why[200];

	if (pgc_proc_gone(d->pid)) {
		pgc_clear_error();
		pr_info("PID %d exited while uffd-wp tracking was being ended: nothing of pgclone's is left in it",
			(int)d->pid);
		return 0;
	}
	snprintf(why, sizeof(why), "%s", pgclone_last_error());
	pgc_clear_error();
	return pgc_fail(-ENOTRECOVERABLE, "the stream is complete, but PID %d keeps pgclone's userfaultfd (descriptor %d): ending uffd-wp tracking failed: %s",
			(int)d->pid, d->track.uffd_fd, why);
}

/*
 * The bytes of registered mappings one stop after the stream unregisters:
 * the kernel clears their write-protection in the source's time, some
 * 0.3 ms per MiB on a 2-vCPU VM (README, Live migration), where the
 * whole of 1 GiB took 300-450 ms -- longer than the final round's stop.
 */
#define UNTRACK_CHUNK (16ULL << 20)

/* The cursor on the next registered mapping: is there one? */
static bool untrack_next(struct dumper *d, const struct pgc_vma_list *maps)
{
	while (d->untrack_i < maps->n && !(maps->v[d->untrack_i].vmflags & VMF_UFFD_WP))
		d->untrack_i++;
	return d->untrack_i < maps->n;
}

/* One stop's share: UNTRACK_CHUNK bytes from the cursor on. */
static int live_untrack_chunk(struct dumper *d, const struct pgc_plan *plan)
{
	const struct pgc_vma_list *maps = &plan->src_maps;
	uint64_t budget = UNTRACK_CHUNK;
	int ret = 0;

	while (!ret && budget && untrack_next(d, maps)) {
		const struct pgc_vma *v = &maps->v[d->untrack_i];
		uint64_t a = d->untrack_at > v->m.start ? d->untrack_at : v->m.start;
		uint64_t b = v->m.end - a > budget ? a + budget : v->m.end;

		ret = pgc_uffdwp_unregister(&d->rem, d->track.uffd_fd, a, b);
		budget -= b - a;
		d->untrack_at = b;
		d->untrack_i += b == v->m.end;
	}
	return ret;
}

/*
 * uffd-wp, the stream complete and the source running again: tracking
 * ends in short stops, UNTRACK_CHUNK of the mappings the final round
 * found registered per stop, the source let run between them at least
 * as long as each stop took; then a last stop unregisters whatever is
 * registered still (all of it when a stop failed or pgclone was
 * interrupted) and closes the descriptor.  Asynchronous uffd-wp never
 * blocks the source, so a range still registered meanwhile costs it
 * nothing but a marker per page.  Only the last stop must succeed.
 */
static int live_untrack(struct dumper *d, struct pgc_proc *proc,
			const struct pgc_plan *plan)
{
	uint64_t t_all = pgc_now_ns(), longest = 0;
	unsigned int stops = 0;
	int ret = 0;

	d->untrack_i = 0;
	d->untrack_at = 0;
	while (!ret && untrack_next(d, &plan->src_maps)) {
		uint64_t t = pgc_now_ns();
		struct timespec ts;

		ret = live_stop(d, proc);
		if (!ret) {
			ret = live_remote(d, proc, live_untrack_chunk, plan);
			pgc_proc_release(proc);
		}
		t = pgc_now_ns() - t;
		longest = t > longest ? t : longest;
		stops++;
		if (!ret)
			ret = pgc_step(d->req, "live-untrack");
		ts = (struct timespec){ (time_t)(t / 1000000000), (long)(t % 1000000000) };
		if (!ret)
			nanosleep(&ts, NULL);
	}
	if (ret)
		pr_info("ending uffd-wp tracking of PID %d in stops failed (%s): the rest in one stop",
			(int)d->pid, pgclone_last_error());
	pgc_clear_error();
	if (pgc_fault_point("live-untrack-last") || live_end_now(d, proc, false))
		return kept_uffd(d);
	pr_info("ended uffd-wp tracking of PID %d after the stream in %u stops, the longest %.3f ms (%.3f ms in all)",
		(int)d->pid, stops + 1, (double)longest / 1e6,
		(double)(pgc_now_ns() - t_all) / 1e6);
	return 0;
}

/*
 * The final round is in the stream: say so to the caller (who may close
 * the stream, which its reader then sees end), then end uffd-wp
 * tracking -- with the source running (live_untrack()), unless it is to
 * stay stopped (PGCLONE_LEAVE_STOPPED): then in this stop, which no
 * longer holds up a running source.  A failure from here on is
 * -ENOTRECOVERABLE: the stream is whole and may have been restored.
 */
static int live_complete(struct dumper *d, struct pgc_proc *proc,
			 const struct pgc_plan *plan)
{
	const struct pgc_request *req = d->req;
	bool stay = req->flags & PGCLONE_LEAVE_STOPPED;
	int ret = 0, err;

	if (!stay)
		pgc_proc_release(proc);
	if (req->complete && req->complete(req->progress_ctx))
		ret = pgc_fail(-ENOTRECOVERABLE, "the stream is complete, but the caller could not finish it");
	if (d->track.uffd_fd >= 0 && !stay)
		err = live_untrack(d, proc, plan);
	else if (d->track.uffd_fd >= 0 && live_end_now(d, proc, true))
		err = kept_uffd(d);
	else
		err = 0;
	ret = ret ? ret : err;
	/*
	 * --leave-stopped: SIGSTOP while every thread is still ours, so it is
	 * pending when they are let go and the group stop comes before
	 * another instruction of the source's: it stays the instant of the
	 * stream.  pgc_proc_release() then detaches, as always.  Sent to
	 * the process, not to a thread: whichever thread is let go first
	 * takes it and stops them all, and none runs on meanwhile.
	 * Allowed: tracking opened its clear_refs, which only its own user
	 * (or root of a root process) may.
	 */
	if (stay && kill(d->pid, SIGSTOP))
		ret = pgc_fail(-ENOTRECOVERABLE, "the stream is complete, but PID %d could not be left stopped: %s",
			       (int)d->pid, strerror(errno));
	return ret;
}

static int new_generation(struct dumper *d)
{
	uint64_t gen = 0;

	while (!gen)
		if (getrandom(&gen, sizeof(gen), 0) != sizeof(gen))
			return pgc_fail(-EIO, "cannot choose a tracking generation: %s",
					strerror(errno));
	d->tracking.generation = gen;
	return 0;
}

/*
 * The rounds, from a source frozen by freeze() with its descriptors open
 * (the caller's ready callback comes at the final round).  Each round:
 * (stopped) plan,
 * scan, decide; then either re-arm and let the source run while the
 * round is written, or -- the final round -- end uffd-wp tracking and
 * write it frozen.  A failure anywhere ends the stream before a final
 * round's trailer: a restore of it changes nothing; and the source keeps
 * no userfaultfd of the dump's (live_undo()).
 */
static int dump_rounds(struct dumper *d, bool all, struct pgc_proc *proc,
		       struct pgc_plan *plan)
{
	const struct pgc_request *req = d->req;
	struct shape *shape = NULL;
	size_t n_shape = 0;
	struct pgc_live lv;
	bool final = false, held = true;	/* freeze() seized it */
	int ret = 0;

	pgc_live_start(&lv, req);
	while (!ret && !final) {
		uint64_t t0 = pgc_now_ns(), stopped = t0, t_write;

		if (lv.round)
			ret = live_stop(d, proc);
		held = !ret;
		if (!ret)
			ret = pgc_step(req, "live-stopped");
		if (!ret)
			ret = live_plan(d, all, plan, &shape, &n_shape);
		if (!ret && lv.round)
			ret = next_round(d);
		if (!ret)
			ret = new_generation(d);
		if (!ret) {
			pgclone__live__init(&d->live);
			d->live.has_round = d->live.has_final = d->live.has_elapsed_ns = true;
			d->live.round = lv.round;
			d->live.elapsed_ns = t0 - lv.t_start;
			ret = build_manifest(d, plan, true);
		}
		if (ret)
			break;
		pgc_live_scanned(&lv, d->data_len);
		final = pgc_live_final(&lv, d->data_len);
		d->live.final = final;
		d->src.frozen = final;
		/*
		 * The caller's ready callback (pgclone(1) drops its privileges
		 * there) once the source is stopped for the last time: each
		 * round before seizes it again, which takes them.
		 */
		if (final && !ret)
			ret = pgc_ready(req);
		if (ret)
			break;
		if (!final) {
			ret = live_arm(d, proc, plan);
			if (ret)
				break;
			pgc_live_armed(&lv);
			pgc_proc_release(proc);
			held = false;
			stopped = pgc_now_ns() - stopped;
		}
		t_write = pgc_now_ns();
		lv.scan_ns = t_write - t0;	/* stopped, finding what to write */
		ret = write_round(d);
		if (!ret)
			ret = pgc_step(req, final ? "live-final" : "live-round");
		if (ret)
			break;
		if (final)
			stopped = pgc_now_ns() - stopped;
		pgc_live_done(&lv, final, d->data_len, d->z ? d->stored : d->data_len,
			      pgc_now_ns() - t_write, pgc_now_ns() - t0, stopped);
		d->live_bytes += d->data_len;
	}
	if (ret)
		live_undo(d, proc, held);
	else
		ret = live_complete(d, proc, plan);
	free(shape);
	return ret;
}

int pgc_image_dump(const struct pgc_request *req, bool all, int out,
		   struct pgclone_result *res)
{
	struct dumper d = { .req = req, .pid = req->src_pid,
			    .read_pid = req->src_pid, .out = out,
			    .kernel_snap = (req->flags & PGCLONE_SNAPSHOT) &&
					   pgc_snapshot_by_kernel(req->engine),
			    .smaps = -1, .mem = -1, .walk.fd = -1,
			    .track = { .clear_refs = -1, .record = -1, .emul_fd = -1,
				       .uffd_rec = -1, .uffd_recorded = -1,
				       .uffd_fd = -1 } };
	bool frozen = !(req->flags & PGCLONE_NO_FREEZE);
	bool snapped = req->flags & PGCLONE_SNAPSHOT;
	struct pgc_snapshot snap = { .rollup = -1, .status = -1, .pidfd = -1 };
	struct pgc_vma_list maps;
	struct pgc_proc proc = { 0 };
	struct pgc_plan plan = { 0 };
	uint32_t *crcs = NULL;
	uint64_t nr_data = 0;
	struct pgc_phases ph;
	uint64_t elapsed;
	int ret;

	pgc_phases_start(&ph);
	pgc_img_tune_fd(out);
	/* before the source stops: what cannot be had costs it nothing */
	if (req->compress == PGCLONE_COMPRESS_ZSTD) {
		int err;

		d.z = pgc_zstd_new_writer(req->compress_level, req->compress_threads, &err);
		d.zbuf = malloc(pgc_zstd_pack_bound(PGC_IMG_CHUNK) +
				PGC_IMG_BLOCK_HDR * PGC_IMG_IOV_BATCH);
		if (!d.z || !d.zbuf) {
			bool single = !d.z && err == -EOPNOTSUPP;

			pgc_zstd_free(d.z);
			free(d.zbuf);
			if (single)
				return pgc_fail(err, "this libzstd compresses on one thread only (built without ZSTD_MULTITHREAD): no compression threads");
			return pgc_fail(-ENOMEM, "out of memory for the compressor");
		}
	}
	ret = prepare_tracking(&d, all);
	if (!ret)
		ret = freeze(&d, all, &proc, &snap);
	if (ret) {
		pgc_track_close(&d.track);
		pgc_img_free(&d.parent);
		free(d.held);
		pgc_zstd_free(d.z);
		free(d.zbuf);
		return ret;
	}
	pgc_phase_end(&ph, snapped ? "snapshot" : "seize");
	ret = pgc_step(req, "seized");
	if (!ret)
		ret = open_source(&d);
	/* uffd-wp armed before: its markers are no pages */
	if (!ret && d.track.uffd_fd >= 0)
		mark_wp_markers(&d);
	/* a live dump stops the source again for each round: later */
	if (!ret && (req->flags & PGCLONE_LIVE)) {
		ret = dump_rounds(&d, all, &proc, &plan);
		goto done;
	}
	/* uffd-wp arms with syscalls in the source: what they need, now */
	if (!ret && d.track.mode == PGC_TRACK_UFFD_WP) {
		ret = pgc_remote_begin(&d.rem, &proc);
		d.rem_begun = !ret;
		if (ret == -EACCES)	/* seccomp strict mode */
			ret = -EPERM;
	}
	if (!ret)
		ret = pgc_ready(req);
	if (!ret) {
		ret = pgc_maps_read_fd(req->src_pid, d.smaps, &maps);
		d.smaps = -1;
		if (!ret)
			accept_tracked(&d, &maps);
	}
	if (!ret) {
		ret = all ? plan_all(&plan, req->src_pid, &maps) :
			    pgc_plan_build(&plan, req->src_pid, &maps, req->src,
					   req->len, 0, req->src);
		plan.src_maps = maps;
	}
	/* what changed between the check and the snapshot */
	if (!ret && snapped)
		ret = pgc_snapshot_refuse(&plan, &plan.src_maps);
	if (!ret && d.kernel_snap)
		ret = snapshot_by_kernel(&d, &proc, &snap, &plan);
	if (!ret)
		ret = check_span(&d, &plan);
	if (!ret) {
		pgc_phase_end(&ph, "plan");
		ret = build_manifest(&d, &plan, frozen);
	}
	if (!ret)
		pgc_phase_end(&ph, "scan");
	for (size_t i = 0; !ret && i < d.n_ext; i++)
		nr_data += d.ext[i].kind == PGCLONE__EXTENT_KIND__DATA;
	if (!ret) {
		crcs = calloc(nr_data ? nr_data : 1, sizeof(*crcs));
		ret = crcs ? write_head(&d) : -ENOMEM;
	}
	if (!ret)
		ret = write_data(&d, req, crcs);
	if (!ret)
		ret = write_trailer(&d, crcs, nr_data);
	/* the image is complete: arm the next delta, still frozen */
	if (!ret && (req->flags & PGCLONE_TRACK) && pgc_track_emulated(&d.track))
		ret = note_emulated(&d);
	if (!ret && (req->flags & PGCLONE_TRACK))
		ret = arm_tracking(&d, &plan);
	else if (!ret && d.track.uffd_fd >= 0)
		ret = end_tracking(&d, &plan.src_maps);
	if (ret)
		undo_tracking(&d, &plan);
	if (!ret && d.held)
		pr_info("delta: %llu pages written since the parent stored, %llu left to it",
			(unsigned long long)(d.data_len / PGC_PAGE_SIZE),
			(unsigned long long)d.pages_parent);
	if (!ret && d.z)
		pr_info("zstd level %d: %llu bytes of data stored in %llu",
			req->compress_level, (unsigned long long)d.data_len,
			(unsigned long long)d.stored);
	if (!ret)
		pgc_phase_end(&ph, "write");
done:
	if (d.rem_begun && pgc_remote_end(&d.rem) && !ret)
		ret = pgc_fail(-ESRCH, "PID %d exited while pgclone armed tracking in it",
			       (int)d.pid);
	pgc_proc_release(&proc);
	/* --leave-stopped: stopped when the call returns, not a moment after */
	if ((req->flags & PGCLONE_LEAVE_STOPPED) && (!ret || ret == -ENOTRECOVERABLE) &&
	    !pgc_proc_wait_stopped(d.pid, 1000))
		pr_warn("PID %d was sent SIGSTOP after the final round, but is not stopped a second later",
			(int)d.pid);
	close_source(&d);
	if (snapped) {
		int err = pgc_snapshot_drop(&snap);

		ret = ret ? ret : err;
	}
	pgc_phase_end(&ph, "detach");
	/* -ENOTRECOVERABLE: the stream is whole, and reported as such */
	if (!ret || ret == -ENOTRECOVERABLE) {
		int err = pgc_result_fill(res, &plan);

		ret = ret ? ret : err;
		res->engine = PGCLONE_ENGINE_COPY;
		res->bytes_copied = d.live_bytes ? d.live_bytes : d.data_len;
		res->pages_copied = res->bytes_copied / PGC_PAGE_SIZE;
	}
	elapsed = pgc_phases_elapsed(&ph);
	if (!ret || ret == -ENOTRECOVERABLE)
		res->elapsed_ns = elapsed;
	free(crcs);
	close_source(&d);
	pgc_track_close(&d.track);
	pgc_img_free(&d.parent);
	free(d.held);
	pgc_zstd_free(d.z);
	free(d.zbuf);
	free(d.ext);
	free(d.eptr);
	free(d.ranges);
	free(d.rptr);
	free(d.files);
	pgc_plan_free(&plan);
	return ret;
}
