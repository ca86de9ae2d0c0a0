// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pagewalk.c - what each page of a range of a process holds: the one walk
 * of page states every part of pgclone can share.
 *
 * It reports runs of populated pages (present or swapped) that share the
 * same categories, in PAGEMAP_SCAN's terms: present, swapped, file (not
 * the process's own anonymous page), the shared zero page (the huge one
 * too), mapped by a huge PMD.  Three ways, the best the kernel and our
 * privileges allow, chosen when the walk is opened:
 *
 *   PGC_WALK_SCAN     ioctl(PAGEMAP_SCAN) on /proc/PID/pagemap (Linux 6.7+):
 *                     the kernel says which pages are the zero page and
 *                     which are huge, one region per run, not 8 bytes a page;
 *   PGC_WALK_PFN      /proc/PID/pagemap entries, with the zero page (and the
 *                     huge zero page) known by its page frame number: page
 *                     frame numbers are shown to CAP_SYS_ADMIN only;
 *   PGC_WALK_PAGEMAP  /proc/PID/pagemap entries alone: the zero page cannot
 *                     be told from data (callers compare the bytes).
 *
 * Fault-point builds take PGCLONE_FAULT_PAGEWALK=pfn|pagemap to force a
 * fallback, so that tests reach every way on one kernel.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pgcloneP.h"

/* <linux/fs.h> of Linux 6.7; Debian 12's headers predate it. */
struct pgc_page_region {
	uint64_t start, end, categories;
};

struct pgc_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};

#define PGC_PAGEMAP_SCAN _IOWR('f', 16, struct pgc_pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1ULL << 0)
#define PM_SCAN_CHECK_WPASYNC (1ULL << 1)
#define PAGE_IS_FILE (1ULL << 2)
#define PAGE_IS_PRESENT (1ULL << 3)
#define PAGE_IS_SWAPPED (1ULL << 4)
#define PAGE_IS_PFNZERO (1ULL << 5)
#define PAGE_IS_HUGE (1ULL << 6)

#define PFN_MASK ((1ULL << 55) - 1)
#define HPAGE_PAGES (PGC_HPAGE_SIZE / PGC_PAGE_SIZE)
#define SCAN_REGIONS 512		/* regions per ioctl */
#define PAGEMAP_BATCH 32768		/* 256 KiB of pagemap per read */

unsigned int pgc_walk_cats_of_scan(uint64_t categories)
{
	unsigned int cats = 0;

	if (categories & PAGE_IS_PRESENT)
		cats |= PGC_PG_PRESENT;
	if (categories & PAGE_IS_SWAPPED)
		cats |= PGC_PG_SWAPPED;
	if (categories & PAGE_IS_PFNZERO)
		cats |= PGC_PG_ZERO;
	else if (categories & PAGE_IS_FILE)
		cats |= PGC_PG_FILE;
	if (categories & PAGE_IS_HUGE)
		cats |= PGC_PG_HUGE;
	/* asked for one of the two at most (pgc_walk_track()) */
	if (categories & (PGC_PAGE_IS_SOFT_DIRTY | PGC_PAGE_IS_WRITTEN))
		cats |= PGC_PG_DIRTY;
	return cats;
}

unsigned int pgc_walk_cats_of_entry(const struct pgc_walk *w, uint64_t e)
{
	unsigned int cats = 0;
	uint64_t pfn = e & PFN_MASK;

	if (e & PM_PRESENT)
		cats |= PGC_PG_PRESENT;
	if (e & PM_SWAP)
		cats |= PGC_PG_SWAPPED;
	if ((e & PM_PRESENT) && w->how == PGC_WALK_PFN &&
	    ((w->zero_pfn && pfn == w->zero_pfn) ||
	     (w->huge_zero_pfn && pfn - w->huge_zero_pfn < HPAGE_PAGES)))
		cats |= PGC_PG_ZERO;	/* pagemap calls the huge one a file page */
	else if (e & PM_FILE)
		cats |= PGC_PG_FILE;
	if (w->dirty && (w->written ? !(e & PM_UFFD_WP) : !!(e & PM_SOFT_DIRTY)))
		cats |= PGC_PG_DIRTY;
	return cats;
}

/*
 * The pfn our own read fault at @p maps, or 0 (pfns hidden, nothing
 * mapped).  @fd is /proc/self/pagemap.
 */
static uint64_t pfn_at(int fd, const volatile char *p)
{
	uint64_t e = 0;

	(void)*p;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / PGC_PAGE_SIZE * 8)) !=
	    (ssize_t)sizeof(e) || !(e & PM_PRESENT))
		return 0;
	return e & PFN_MASK;
}

/*
 * Find the zero page and the huge zero page by read-faulting memory of our
 * own: two read faults that map one pfn found it.  A kernel that gives each
 * read fault a page of its own (seen on a 6.18 host) has none to find, and
 * then none to report.  Returns whether pfns are shown to us at all.
 */
static bool find_zero_pfns(struct pgc_walk *w)
{
	size_t len = 3 * PGC_HPAGE_SIZE;
	char *raw, *huge;
	uint64_t a, b;
	int fd;

	fd = pgc_proc_open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return false;
	raw = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (raw == MAP_FAILED) {
		close(fd);
		return false;
	}
	a = pfn_at(fd, raw);
	b = pfn_at(fd, raw + PGC_PAGE_SIZE);
	if (a && a == b)
		w->zero_pfn = a;
	/* two huge pages' worth past the first aligned boundary */
	huge = (char *)(((uintptr_t)raw + PGC_HPAGE_SIZE - 1) & ~(PGC_HPAGE_SIZE - 1));
	if (huge + 2 * PGC_HPAGE_SIZE <= raw + len &&
	    !madvise(huge, 2 * PGC_HPAGE_SIZE, MADV_HUGEPAGE)) {
		uint64_t c = pfn_at(fd, huge), d = pfn_at(fd, huge + PGC_HPAGE_SIZE);

		if (c && c == d && c != w->zero_pfn)
			w->huge_zero_pfn = c;
	}
	munmap(raw, len);
	close(fd);
	return a != 0;
}

static bool scan_works(int fd)
{
	struct pgc_pm_scan_arg arg = { .size = sizeof(arg) };

	/* an empty range: 0, or EINVAL from a kernel that checks more */
	return ioctl(fd, PGC_PAGEMAP_SCAN, &arg) >= 0 || errno != ENOTTY;
}

static enum pgc_walk_how forced_how(void)
{
#ifdef PGCLONE_FAULT_POINTS
	const char *how = getenv("PGCLONE_FAULT_PAGEWALK");

	if (how && !strcmp(how, "pfn"))
		return PGC_WALK_PFN;
	if (how && !strcmp(how, "pagemap"))
		return PGC_WALK_PAGEMAP;
#endif
	return PGC_WALK_SCAN;
}

void pgc_walk_init(struct pgc_walk *w, int fd, enum pgc_walk_how best)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->how = PGC_WALK_PAGEMAP;
	if (best == PGC_WALK_SCAN && scan_works(fd))
		w->how = PGC_WALK_SCAN;
	else if (best != PGC_WALK_PAGEMAP && find_zero_pfns(w))
		w->how = PGC_WALK_PFN;
}

int pgc_walk_open(struct pgc_walk *w, pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = pgc_proc_open(path, O_RDONLY);	/* pfns: CAP_SYS_ADMIN, at open */
	if (fd < 0)
		return pgc_fail(errno == ENOENT ? -ESRCH : -EPERM, "cannot open %s",
				path);
	pgc_walk_init(w, fd, forced_how());
	pr_debug("page states of PID %d from %s", (int)pid,
		 w->how == PGC_WALK_SCAN ? "PAGEMAP_SCAN" :
		 w->how == PGC_WALK_PFN ? "the zero page's pfn" :
		 "pagemap, compared");
	return 0;
}

enum pgc_track_how pgc_walk_track(struct pgc_walk *w, bool uffd_wp)
{
	if (uffd_wp) {
		/* PAGE_IS_WRITTEN came with PAGEMAP_SCAN itself (6.7) */
		w->dirty = w->written = true;
		pr_debug("written pages from %s", w->how == PGC_WALK_SCAN ?
			 "PAGEMAP_SCAN, uffd-wp" : "pagemap bit 57, uffd-wp");
		return w->how == PGC_WALK_SCAN ? PGC_TRACK_UFFD_SCAN :
						 PGC_TRACK_UFFD_PAGEMAP;
	}
	if (w->how == PGC_WALK_SCAN && !pgc_track_scan_works(w->fd)) {
		void *buf = w->buf;

		pgc_walk_init(w, w->fd, PGC_WALK_PFN);
		w->buf = buf;
	}
	w->dirty = true;
	pr_debug("written pages from %s", w->how == PGC_WALK_SCAN ?
		 "PAGEMAP_SCAN" : "pagemap bit 55");
	return w->how == PGC_WALK_SCAN ? PGC_TRACK_SCAN : PGC_TRACK_PAGEMAP;
}

/* the swap type pagemap shows for a pte marker: the last, SWP_PTE_MARKER */
#define MARKER_TYPE 0x1f

bool pgc_walk_is_marker(const struct pgc_walk *w, uint64_t e)
{
	uint64_t frame = e & PFN_MASK;

	if (!w->wp_markers || (e & (PM_PRESENT | PM_SWAP)) != PM_SWAP)
		return false;
	if (frame)
		return (frame & MARKER_TYPE) == MARKER_TYPE;
	/*
	 * Type and offset hidden (no CAP_SYS_ADMIN; a real swap entry shown
	 * has an offset): a marker only where nothing is swapped.
	 */
	return w->no_swap && (e & PM_UFFD_WP);
}

void pgc_walk_close(struct pgc_walk *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->buf);
	w->buf = NULL;
}

#define WALK_BUF_BYTES (PAGEMAP_BATCH * sizeof(uint64_t))
_Static_assert(SCAN_REGIONS * sizeof(struct pgc_page_region) <= WALK_BUF_BYTES,
	       "one buffer serves both ways");

static void *walk_buf(struct pgc_walk *w)
{
	if (!w->buf)
		w->buf = malloc(WALK_BUF_BYTES);
	return w->buf;
}

/* Collects runs of equal categories before handing them on. */
struct run {
	uint64_t start, end;
	unsigned int cats;
	pgc_walk_fn fn;
	void *ctx;
};

static int run_add(struct run *r, uint64_t start, uint64_t end, unsigned int cats)
{
	int err = 0;

	if (r->end == start && r->cats == cats && r->end > r->start) {
		r->end = end;
		return 0;
	}
	if (r->end > r->start)
		err = r->fn(r->ctx, r->start, r->end, r->cats);
	r->start = start;
	r->end = end;
	r->cats = cats;
	return err;
}

static int run_flush(struct run *r)
{
	return r->end > r->start ? r->fn(r->ctx, r->start, r->end, r->cats) : 0;
}

/*
 * A run PAGEMAP_SCAN calls swapped and not written, where uffd-wp may have
 * left markers: each page's pagemap entry says which it is.
 */
static int add_swapped(struct pgc_walk *w, uint64_t start, uint64_t end,
		       unsigned int cats, struct run *run)
{
	int err = 0;

	for (uint64_t a = start; !err && a < end; a += PGC_PAGE_SIZE) {
		uint64_t e;

		if (pread(w->fd, &e, sizeof(e), (off_t)(a / PGC_PAGE_SIZE * 8)) != sizeof(e))
			return -EIO;
		if (!pgc_walk_is_marker(w, e))
			err = run_add(run, a, a + PGC_PAGE_SIZE, cats);
	}
	return err;
}

static int walk_scan(struct pgc_walk *w, uint64_t start, uint64_t end,
		     struct run *run)
{
	struct pgc_page_region *vec = walk_buf(w);
	int err = 0;

	if (!vec)
		return -ENOMEM;
	while (!err && start < end) {
		struct pgc_pm_scan_arg arg = {
			.size = sizeof(arg),
			/* a range not in the mode says EPERM, never nothing */
			.flags = w->rearm ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0,
			.start = start,
			.end = end,
			.vec = (uintptr_t)vec,
			.vec_len = SCAN_REGIONS,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED |
				       PAGE_IS_FILE | PAGE_IS_PFNZERO | PAGE_IS_HUGE |
				       (w->written || w->wp_markers ? PGC_PAGE_IS_WRITTEN :
					w->dirty ? PGC_PAGE_IS_SOFT_DIRTY : 0),
		};
		int n = ioctl(w->fd, PGC_PAGEMAP_SCAN, &arg);

		if (n < 0) {
			err = -errno;
			break;
		}
		for (int i = 0; !err && i < n; i++) {
			if (vec[i].start < start || vec[i].end > end ||
			    vec[i].start >= vec[i].end)
				err = -EIO;
			else if (w->wp_markers &&
				 (vec[i].categories & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED |
						       PGC_PAGE_IS_WRITTEN)) == PAGE_IS_SWAPPED)
				err = add_swapped(w, vec[i].start, vec[i].end,
						  pgc_walk_cats_of_scan(vec[i].categories) &
						  (w->dirty ? ~0u : ~PGC_PG_DIRTY), run);
			else
				err = run_add(run, vec[i].start, vec[i].end,
					      pgc_walk_cats_of_scan(vec[i].categories) &
					      (w->dirty ? ~0u : ~PGC_PG_DIRTY));
		}
		if (arg.walk_end <= start || arg.walk_end > end)
			err = err ? err : -EIO;	/* no progress: never loop */
		start = arg.walk_end;
	}
	return err;
}

static int walk_pagemap(struct pgc_walk *w, uint64_t start, uint64_t end,
			struct run *run)
{
	uint64_t *buf = walk_buf(w);
	uint64_t npages = (end - start) / PGC_PAGE_SIZE, done = 0;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	while (!err && done < npages) {
		size_t want = npages - done > PAGEMAP_BATCH ? PAGEMAP_BATCH :
							     (size_t)(npages - done);
		ssize_t got = pread(w->fd, buf, want * 8,
				    (off_t)((start / PGC_PAGE_SIZE + done) * 8));

		if (got < 0) {
			err = -errno;
			break;
		}
		if (got == 0 || got % 8) {
			err = -EIO;
			break;
		}
		for (size_t i = 0; !err && i < (size_t)got / 8; i++) {
			uint64_t at = start + (done + i) * PGC_PAGE_SIZE;
			unsigned int cats = pgc_walk_cats_of_entry(w, buf[i]);

			if ((cats & (PGC_PG_PRESENT | PGC_PG_SWAPPED)) &&
			    !pgc_walk_is_marker(w, buf[i]))
				err = run_add(run, at, at + PGC_PAGE_SIZE, cats);
		}
		done += (uint64_t)got / 8;
	}
	return err;
}

int pgc_walk_range(struct pgc_walk *w, uint64_t start, uint64_t end,
		   pgc_walk_fn fn, void *ctx)
{
	struct run run = { .fn = fn, .ctx = ctx };
	int err;

	if (w->how == PGC_WALK_SCAN)
		err = walk_scan(w, start, end, &run);
	else
		err = walk_pagemap(w, start, end, &run);
	return err ? err : run_flush(&run);
}
