// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pagemap.c - find the pages a clone must copy, so that the copy costs
 * what is populated, not the length of the range.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgcloneP.h"

bool pgc_pagemap_populated(uint64_t e)
{
	return e & (PM_PRESENT | PM_SWAP);
}

bool pgc_pagemap_needs_copy(uint64_t e, enum pgclone_kind kind)
{
	switch (kind) {
	case PGCLONE_KIND_ANON_PRIVATE:
		return pgc_pagemap_populated(e);
	case PGCLONE_KIND_FILE_PRIVATE:
		/*
		 * Page cache pages come with the file; only the source's own
		 * copy-on-write pages (anonymous, present or swapped) carry
		 * data the file does not have.
		 */
		return pgc_pagemap_populated(e) && !(e & PM_FILE);
	default:
		/* shared objects are mapped, never copied */
		return false;
	}
}

static int runs_push(struct pgc_runs *runs, uint64_t off, uint64_t len,
		     unsigned int flags)
{
	struct pgc_run *last = runs->n ? &runs->r[runs->n - 1] : NULL;

	if (last && last->off + last->len == off && last->flags == flags) {
		last->len += len;
		return 0;
	}
	if (runs->n == runs->cap) {
		/*
		 * Most ranges hold a run or two (30,000 one-page VMAs are
		 * 30,000 lists): start small, so the lists do not cost more
		 * memory and page faults than the pages they describe.
		 */
		size_t cap = runs->cap ? runs->cap * 2 : 2;
		struct pgc_run *r = realloc(runs->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		runs->r = r;
		runs->cap = cap;
	}
	runs->r[runs->n].off = off;
	runs->r[runs->n].len = len;
	runs->r[runs->n].flags = flags;
	runs->n++;
	return 0;
}

int pgc_runs_add_entries(struct pgc_runs *runs, const uint64_t *e, size_t n,
			 uint64_t first_off, enum pgclone_kind kind)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t off = first_off + i * PGC_PAGE_SIZE;
		int ret;

		if (pgc_pagemap_populated(e[i]))
			runs->pages_present++;
		if (!pgc_pagemap_needs_copy(e[i], kind))
			continue;
		runs->pages_to_copy++;
		ret = runs_push(runs, off, PGC_PAGE_SIZE, 0);
		if (ret)
			return ret;
	}
	return 0;
}

int pgc_runs_add_cats(struct pgc_runs *runs, uint64_t off, uint64_t len,
		      unsigned int cats, enum pgclone_kind kind, bool zero_known)
{
	uint64_t pages = len >> PGC_PAGE_SHIFT;
	unsigned int flags = 0;

	runs->pages_present += pages;
	switch (kind) {
	case PGCLONE_KIND_ANON_PRIVATE:
		/* read, never written: the destination reads zeroes untouched */
		if (cats & PGC_PG_ZERO) {
			runs->pages_zero += pages;
			return 0;
		}
		/*
		 * A private anonymous mapping holds no page cache: a "file"
		 * page there is the huge zero page as pagemap shows it to a
		 * walk that does not know its pfn.  Compare it, as everything
		 * when the zero page cannot be told from data at all.
		 */
		if (!zero_known || (cats & PGC_PG_FILE))
			flags |= PGC_RUN_MAYBE_ZERO;
		break;
	case PGCLONE_KIND_FILE_PRIVATE:
		/*
		 * Page cache comes with the file.  A page of zeroes here is
		 * data, never skipped: the file may hold other bytes there.
		 */
		if (cats & PGC_PG_FILE)
			return 0;
		break;
	default:
		return 0;	/* shared objects are mapped, never copied */
	}
	if (cats & PGC_PG_HUGE)
		flags |= PGC_RUN_HUGE;
	runs->pages_to_copy += pages;
	return runs_push(runs, off, len, flags);
}

int pgc_runs_mark_full_blocks(struct pgc_runs *runs, uint64_t base)
{
	struct pgc_runs out = { 0 };
	int err = 0;

	for (size_t i = 0; !err && i < runs->n; i++) {
		uint64_t off = runs->r[i].off, end = off + runs->r[i].len;

		while (!err && off < end) {
			uint64_t blk = (base + off) & ~(PGC_HPAGE_SIZE - 1);
			uint64_t next = blk + PGC_HPAGE_SIZE - base;
			unsigned int flags = runs->r[i].flags;

			if (next > end)
				next = end;
			if (base + off == blk && next - off == PGC_HPAGE_SIZE)
				flags |= PGC_RUN_HUGE;
			err = runs_push(&out, off, next - off, flags);
			off = next;
		}
	}
	if (err) {
		pgc_runs_free(&out);
		return err;
	}
	free(runs->r);
	runs->r = out.r;
	runs->n = out.n;
	runs->cap = out.cap;
	return 0;
}

int pgc_pagemap_scan(int fd, uint64_t start, uint64_t len,
		     enum pgclone_kind kind, struct pgc_runs *runs)
{
	enum { BATCH = 32768 };		/* 256 KiB of pagemap per read */
	uint64_t *buf = malloc(BATCH * sizeof(*buf));
	uint64_t npages = len >> PGC_PAGE_SHIFT, done = 0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	while (done < npages) {
		size_t want = npages - done > BATCH ? BATCH : npages - done;
		off_t pos = (off_t)(((start >> PGC_PAGE_SHIFT) + done) * 8);
		ssize_t got = pread(fd, buf, want * 8, pos);

		if (got < 0) {
			ret = -errno;
			break;
		}
		if (got == 0 || got % 8) {
			ret = -EIO;
			break;
		}
		ret = pgc_runs_add_entries(runs, buf, (size_t)got / 8,
					   done * PGC_PAGE_SIZE, kind);
		if (ret)
			break;
		done += (uint64_t)got / 8;
	}
	free(buf);
	return ret;
}

void pgc_runs_free(struct pgc_runs *runs)
{
	free(runs->r);
	memset(runs, 0, sizeof(*runs));
}
