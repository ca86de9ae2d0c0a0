// SPDX-License-Identifier: GPL-2.0-or-later
/* pagemap bits: which pages a clone copies, and runs of them; the page
 * walk (proc/pagewalk.c) by each of its ways, on this process. */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"

#define P PM_PRESENT
#define S PM_SWAP
#define F PM_FILE

static void test_needs_copy(void **state)
{
	/* private anonymous: present or swapped */
	assert_true(pgc_pagemap_needs_copy(P, PGCLONE_KIND_ANON_PRIVATE));
	assert_true(pgc_pagemap_needs_copy(S, PGCLONE_KIND_ANON_PRIVATE));
	assert_false(pgc_pagemap_needs_copy(0, PGCLONE_KIND_ANON_PRIVATE));
	assert_false(pgc_pagemap_needs_copy(PM_SOFT_DIRTY, PGCLONE_KIND_ANON_PRIVATE));
	/* private file: only its own copy-on-write pages */
	assert_true(pgc_pagemap_needs_copy(P | PM_EXCLUSIVE, PGCLONE_KIND_FILE_PRIVATE));
	assert_true(pgc_pagemap_needs_copy(S, PGCLONE_KIND_FILE_PRIVATE));
	assert_false(pgc_pagemap_needs_copy(P | F, PGCLONE_KIND_FILE_PRIVATE));
	assert_false(pgc_pagemap_needs_copy(0, PGCLONE_KIND_FILE_PRIVATE));
	/* shared objects are mapped, never copied */
	assert_false(pgc_pagemap_needs_copy(P | F, PGCLONE_KIND_ANON_SHARED));
	assert_false(pgc_pagemap_needs_copy(P, PGCLONE_KIND_FILE_SHARED));
	assert_false(pgc_pagemap_needs_copy(P, PGCLONE_KIND_SPECIAL));
}

static void test_runs(void **state)
{
	const uint64_t e[] = { P, P, 0, S, P, 0, 0, P | F, P };
	struct pgc_runs r = { 0 };

	assert_int_equal(pgc_runs_add_entries(&r, e, ARRAY_SIZE(e), 0,
					      PGCLONE_KIND_FILE_PRIVATE), 0);
	assert_int_equal(r.pages_present, 6);
	assert_int_equal(r.pages_to_copy, 5);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.r[0].off, 0);
	assert_int_equal(r.r[0].len, 2 * 4096);
	assert_int_equal(r.r[1].off, 3 * 4096);
	assert_int_equal(r.r[1].len, 2 * 4096);
	assert_int_equal(r.r[2].off, 8 * 4096);
	assert_int_equal(r.r[2].len, 4096);
	/* a second batch continues the last run across the boundary */
	assert_int_equal(pgc_runs_add_entries(&r, (uint64_t[]){ P }, 1, 9 * 4096,
					      PGCLONE_KIND_FILE_PRIVATE), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.r[2].len, 2 * 4096);
	pgc_runs_free(&r);
	assert_int_equal(r.n, 0);
}

static void test_scan_file(void **state)
{
	char path[] = "/tmp/pgclone-pagemap-XXXXXX";
	int fd = mkstemp(path);
	uint64_t e[8192] = { 0 };
	struct pgc_runs r = { 0 };

	assert_true(fd >= 0);
	unlink(path);
	/* one present page in 256, over more than one read batch */
	for (size_t i = 0; i < ARRAY_SIZE(e); i += 256)
		e[i] = P;
	assert_int_equal(pwrite(fd, e, sizeof(e), 0x100 * 8), (ssize_t)sizeof(e));
	assert_int_equal(pgc_pagemap_scan(fd, 0x100000, sizeof(e) / 8 * 4096,
					  PGCLONE_KIND_ANON_PRIVATE, &r), 0);
	assert_int_equal(r.pages_present, 32);
	assert_int_equal(r.n, 32);
	assert_int_equal(r.r[31].off, 31 * 256 * 4096ULL);
	pgc_runs_free(&r);
	/* past the end of the file: refused, not taken as "nothing there" */
	assert_int_equal(pgc_pagemap_scan(fd, 0x100000, (sizeof(e) / 8 + 1) * 4096,
					  PGCLONE_KIND_ANON_PRIVATE, &r), -EIO);
	pgc_runs_free(&r);
	/* an odd-sized tail is refused */
	assert_int_equal(ftruncate(fd, 0x100 * 8 + 12), 0);
	assert_int_equal(pgc_pagemap_scan(fd, 0x100000, 2 * 4096,
					  PGCLONE_KIND_ANON_PRIVATE, &r), -EIO);
	pgc_runs_free(&r);
	close(fd);
}


static void test_cats_of_scan(void **state)
{
	/* PAGEMAP_SCAN's bits: present 3, swapped 4, file 2, pfnzero 5, huge 6 */
	assert_int_equal(pgc_walk_cats_of_scan(1 << 3), PGC_PG_PRESENT);
	assert_int_equal(pgc_walk_cats_of_scan(1 << 4 | 1 << 2),
			 PGC_PG_SWAPPED | PGC_PG_FILE);
	assert_int_equal(pgc_walk_cats_of_scan(1 << 3 | 1 << 5 | 1 << 6),
			 PGC_PG_PRESENT | PGC_PG_ZERO | PGC_PG_HUGE);
	/* a zero page is never also a file page */
	assert_int_equal(pgc_walk_cats_of_scan(1 << 3 | 1 << 5 | 1 << 2),
			 PGC_PG_PRESENT | PGC_PG_ZERO);
	/* soft-dirty, bit 7: a walk asks for it only when tracking */
	assert_int_equal(pgc_walk_cats_of_scan(1 << 3 | 1 << 7),
			 PGC_PG_PRESENT | PGC_PG_DIRTY);
	assert_int_equal(pgc_walk_cats_of_scan(1 << 4 | 1 << 7),
			 PGC_PG_SWAPPED | PGC_PG_DIRTY);
}

static void test_cats_of_entry(void **state)
{
	struct pgc_walk w = { .fd = -1, .how = PGC_WALK_PFN,
			      .zero_pfn = 0x1234, .huge_zero_pfn = 0x200000 };

	assert_int_equal(pgc_walk_cats_of_entry(&w, P | 0x1234),
			 PGC_PG_PRESENT | PGC_PG_ZERO);
	/* pagemap calls the huge zero page a file page */
	assert_int_equal(pgc_walk_cats_of_entry(&w, P | F | 0x2001ff),
			 PGC_PG_PRESENT | PGC_PG_ZERO);
	assert_int_equal(pgc_walk_cats_of_entry(&w, P | F | 0x200200),
			 PGC_PG_PRESENT | PGC_PG_FILE);
	assert_int_equal(pgc_walk_cats_of_entry(&w, P | 0x999), PGC_PG_PRESENT);
	/* a swap entry's "pfn" is swap type and offset, never the zero page */
	assert_int_equal(pgc_walk_cats_of_entry(&w, S | 0x1234), PGC_PG_SWAPPED);
	assert_int_equal(pgc_walk_cats_of_entry(&w, 0), 0);
	/* no pfns known: no zero page */
	w.how = PGC_WALK_PAGEMAP;
	assert_int_equal(pgc_walk_cats_of_entry(&w, P | 0x1234), PGC_PG_PRESENT);
	/* bit 55, soft-dirty: said only by a walk that tracks */
	assert_int_equal(pgc_walk_cats_of_entry(&w, P | PM_SOFT_DIRTY | 0x999),
			 PGC_PG_PRESENT);
	w.dirty = true;
	assert_int_equal(pgc_walk_cats_of_entry(&w, P | PM_SOFT_DIRTY | 0x999),
			 PGC_PG_PRESENT | PGC_PG_DIRTY);
	assert_int_equal(pgc_walk_cats_of_entry(&w, S | PM_SOFT_DIRTY | 0x999),
			 PGC_PG_SWAPPED | PGC_PG_DIRTY);
	assert_int_equal(pgc_walk_cats_of_entry(&w, P | 0x999), PGC_PG_PRESENT);
}

static void test_runs_add_cats(void **state)
{
	struct pgc_runs r = { 0 };

	/* private anonymous: the zero page is counted, never copied */
	assert_int_equal(pgc_runs_add_cats(&r, 0, 2 * 4096, PGC_PG_PRESENT,
					   PGCLONE_KIND_ANON_PRIVATE, true), 0);
	assert_int_equal(pgc_runs_add_cats(&r, 2 * 4096, 3 * 4096,
					   PGC_PG_PRESENT | PGC_PG_ZERO,
					   PGCLONE_KIND_ANON_PRIVATE, true), 0);
	assert_int_equal(r.pages_present, 5);
	assert_int_equal(r.pages_zero, 3);
	assert_int_equal(r.pages_to_copy, 2);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.r[0].flags, 0);
	/* a "file" page in anonymous memory is the huge zero page: compared */
	assert_int_equal(pgc_runs_add_cats(&r, 5 * 4096, 4096,
					   PGC_PG_PRESENT | PGC_PG_FILE,
					   PGCLONE_KIND_ANON_PRIVATE, true), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.r[1].flags, PGC_RUN_MAYBE_ZERO);
	/* zero page unknown: every page is compared; runs of other flags stay apart */
	assert_int_equal(pgc_runs_add_cats(&r, 6 * 4096, 512 * 4096,
					   PGC_PG_PRESENT | PGC_PG_HUGE,
					   PGCLONE_KIND_ANON_PRIVATE, false), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.r[2].flags, PGC_RUN_MAYBE_ZERO | PGC_RUN_HUGE);
	pgc_runs_free(&r);

	/* private file: page cache is skipped, a page of zeroes is data */
	assert_int_equal(pgc_runs_add_cats(&r, 0, 4096, PGC_PG_PRESENT | PGC_PG_FILE,
					   PGCLONE_KIND_FILE_PRIVATE, false), 0);
	assert_int_equal(pgc_runs_add_cats(&r, 4096, 4096, PGC_PG_PRESENT | PGC_PG_ZERO,
					   PGCLONE_KIND_FILE_PRIVATE, true), 0);
	assert_int_equal(pgc_runs_add_cats(&r, 2 * 4096, 4096, PGC_PG_SWAPPED,
					   PGCLONE_KIND_FILE_PRIVATE, false), 0);
	assert_int_equal(r.pages_present, 3);
	assert_int_equal(r.pages_to_copy, 2);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.r[0].off, 4096);
	assert_int_equal(r.r[0].len, 2 * 4096);
	assert_int_equal(r.r[0].flags, 0);
	pgc_runs_free(&r);
	/* shared: never copied */
	assert_int_equal(pgc_runs_add_cats(&r, 0, 4096, PGC_PG_PRESENT,
					   PGCLONE_KIND_ANON_SHARED, true), 0);
	assert_int_equal(r.pages_present, 1);
	assert_int_equal(r.n, 0);
	pgc_runs_free(&r);
}

static void test_mark_full_blocks(void **state)
{
	const uint64_t H = 2ULL << 20, base = 0x7f0000100000;	/* 1 MiB into a block */
	struct pgc_runs r = { 0 };

	/* one run from base to 3 blocks on: half, whole, whole, then a bit */
	assert_int_equal(pgc_runs_add_cats(&r, 0, H / 2 + 2 * H + 4096, PGC_PG_PRESENT,
					   PGCLONE_KIND_ANON_PRIVATE, true), 0);
	/* a short run inside the next block stays small */
	assert_int_equal(pgc_runs_add_cats(&r, H / 2 + 3 * H, 8192, PGC_PG_PRESENT,
					   PGCLONE_KIND_ANON_PRIVATE, false), 0);
	assert_int_equal(pgc_runs_mark_full_blocks(&r, base), 0);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.r[0].off, 0);
	assert_int_equal(r.r[0].len, H / 2);
	assert_int_equal(r.r[0].flags, 0);
	assert_int_equal(r.r[1].off, H / 2);
	assert_int_equal(r.r[1].len, 2 * H);
	assert_int_equal(r.r[1].flags, PGC_RUN_HUGE);
	assert_int_equal(r.r[2].len, 4096);
	assert_int_equal(r.r[2].flags, 0);
	assert_int_equal(r.r[3].flags, PGC_RUN_MAYBE_ZERO);
	pgc_runs_free(&r);
}

#define WALK_PAGES 2048
struct walked {
	unsigned char cats[WALK_PAGES];
	uintptr_t base;
	uint64_t last_end;
	int calls;
};

static int collect(void *ctx, uint64_t start, uint64_t end, unsigned int cats)
{
	struct walked *w = ctx;

	assert_true(start >= w->last_end);	/* in order, never overlapping */
	assert_true(start < end);
	w->last_end = end;
	w->calls++;
	for (uint64_t a = start; a < end; a += 4096)
		w->cats[(a - w->base) / 4096] = (unsigned char)cats;
	return 0;
}

static void walk_self(enum pgc_walk_how best, char *p, struct walked *out,
		      enum pgc_walk_how *how)
{
	int fd = pgc_proc_open("/proc/self/pagemap", O_RDONLY);
	struct pgc_walk w;

	assert_true(fd >= 0);
	memset(out, 0, sizeof(*out));
	out->base = (uintptr_t)p;
	pgc_walk_init(&w, fd, best);
	*how = w.how;
	assert_int_equal(pgc_walk_range(&w, (uintptr_t)p,
					(uintptr_t)p + WALK_PAGES * 4096ULL,
					collect, out), 0);
	pgc_walk_close(&w);
}

/*
 * Each way of the walk, on memory of our own: every other page written
 * (more regions than one PAGEMAP_SCAN call returns), a stretch only read.
 * The ways agree on what is populated; the two that know the zero page
 * agree on which pages are it, whatever this kernel does on a read fault.
 */
static void test_walk_ways_agree(void **state)
{
	char *p = mmap(NULL, WALK_PAGES * 4096ULL, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	static struct walked scan, pfn, plain;
	enum pgc_walk_how how_scan, how_pfn, how_plain;
	volatile char sink = 0;

	assert_true(p != MAP_FAILED);
	madvise(p, WALK_PAGES * 4096ULL, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < 1536; i += 2)
		p[i * 4096] = 1;
	for (size_t i = 1600; i < 1700; i++)
		sink += p[i * 4096];
	(void)sink;

	walk_self(PGC_WALK_SCAN, p, &scan, &how_scan);
	walk_self(PGC_WALK_PFN, p, &pfn, &how_pfn);
	walk_self(PGC_WALK_PAGEMAP, p, &plain, &how_plain);
	assert_int_equal(how_plain, PGC_WALK_PAGEMAP);
	assert_true(how_pfn != PGC_WALK_SCAN);
	print_message("walks: %s, %s; %d regions by the first\n",
		      how_scan == PGC_WALK_SCAN ? "PAGEMAP_SCAN" : "no PAGEMAP_SCAN",
		      how_pfn == PGC_WALK_PFN ? "pfns shown" : "pfns hidden",
		      scan.calls);
	for (size_t i = 0; i < WALK_PAGES; i++) {
		unsigned int want = i < 1536 ? (i % 2 ? 0 : PGC_PG_PRESENT) :
				    i >= 1600 && i < 1700 ? PGC_PG_PRESENT : 0;
		unsigned int zero = scan.cats[i] & PGC_PG_ZERO;

		assert_int_equal(scan.cats[i] & ~PGC_PG_ZERO, want);
		assert_int_equal(plain.cats[i], want);
		if (how_scan == PGC_WALK_SCAN && how_pfn == PGC_WALK_PFN)
			assert_int_equal(pfn.cats[i], want | zero);
		if (zero)	/* only what was read, never what was written */
			assert_true(i >= 1600 && i < 1700);
	}
	munmap(p, WALK_PAGES * 4096ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_needs_copy),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_scan_file),
		cmocka_unit_test(test_cats_of_scan),
		cmocka_unit_test(test_cats_of_entry),
		cmocka_unit_test(test_runs_add_cats),
		cmocka_unit_test(test_mark_full_blocks),
		cmocka_unit_test(test_walk_ways_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
