// SPDX-License-Identifier: GPL-2.0-or-later
/* pagemap bits: which pages a clone copies, and runs of them. */
#include <fcntl.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_needs_copy),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_scan_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
