// SPDX-License-Identifier: GPL-2.0-or-later
/* uffd-wp tracking: its record, the target's fdinfo, and what the page
 * walk makes of PAGE_IS_WRITTEN, pagemap bit 57 and pte markers. */
#include "unit.h"
#include "proc/uffdwp.h"

static void test_record(void **state)
{
	uint64_t ino = 0;
	int fd = -1;

	assert_int_equal(pgc_uffdwp_parse_record("7 1232340\n", 10, &fd, &ino), 0);
	assert_int_equal(fd, 7);
	assert_int_equal(ino, 1232340);
	assert_int_equal(pgc_uffdwp_parse_record("0 1\n", 4, &fd, &ino), 0);
	assert_int_equal(fd, 0);
	/* empty: no userfaultfd recorded (soft-dirty armed, or ended) */
	assert_int_equal(pgc_uffdwp_parse_record("", 0, &fd, &ino), -EINVAL);
	static const char *const bad[] = {
		"7 1232340", "7\n", " 7 1\n", "-1 5\n", "7 0\n", "7  1\n", "7 1 \n",
		"x 1\n", "7 x\n", "99999999999 1\n", "7 99999999999999999999999\n",
		"7 -1\n", "+7 1\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		fd = -1;
		print_message("bad record %zu: '%s'\n", i, bad[i]);
		assert_int_equal(pgc_uffdwp_parse_record(bad[i], strlen(bad[i]), &fd, &ino),
				 -EINVAL);
		assert_int_equal(fd, -1);
	}
}

static void test_fdinfo(void **state)
{
	uint64_t ino = 0, features = 0;

	assert_int_equal(pgc_uffdwp_parse_fdinfo("pos:\t0\nflags:\t02000000\nmnt_id:\t17\n"
						 "ino:\t1232340\npending:\t0\ntotal:\t0\n"
						 "API:\taa:8000a000:80000000000001ff\n",
						 &ino, &features), 0);
	assert_int_equal(ino, 1232340);
	assert_int_equal(features, 0x8000a000);
	assert_true((features & PGC_UFFD_WP_FEATURES) == PGC_UFFD_WP_FEATURES);
	/* not a userfaultfd's: no API line; nor an inode */
	assert_int_equal(pgc_uffdwp_parse_fdinfo("pos:\t0\nflags:\t02\nino:\t5\n",
						 &ino, &features), -EINVAL);
	assert_int_equal(pgc_uffdwp_parse_fdinfo("API:\taa:0:1ff\n", &ino, &features),
			 -EINVAL);
	assert_int_equal(pgc_uffdwp_parse_fdinfo("", &ino, &features), -EINVAL);
}

static void test_written(void **state)
{
	struct pgc_walk w = { .fd = -1, .how = PGC_WALK_PAGEMAP, .dirty = true,
			      .written = true };

	/* PAGEMAP_SCAN: PAGE_IS_WRITTEN is bit 1 */
	assert_int_equal(pgc_walk_cats_of_scan(1 << 3 | 1 << 1),
			 PGC_PG_PRESENT | PGC_PG_DIRTY);
	assert_int_equal(pgc_walk_cats_of_scan(1 << 3), PGC_PG_PRESENT);
	/* pagemap: written is bit 57 clear, soft-dirty (55) is not asked */
	assert_int_equal(pgc_walk_cats_of_entry(&w, PM_PRESENT),
			 PGC_PG_PRESENT | PGC_PG_DIRTY);
	assert_int_equal(pgc_walk_cats_of_entry(&w, PM_PRESENT | PM_UFFD_WP),
			 PGC_PG_PRESENT);
	assert_int_equal(pgc_walk_cats_of_entry(&w, PM_PRESENT | PM_UFFD_WP | PM_SOFT_DIRTY),
			 PGC_PG_PRESENT);
	w.written = false;
	assert_int_equal(pgc_walk_cats_of_entry(&w, PM_PRESENT | PM_SOFT_DIRTY),
			 PGC_PG_PRESENT | PGC_PG_DIRTY);
	assert_int_equal(pgc_walk_cats_of_entry(&w, PM_PRESENT), PGC_PG_PRESENT);
}

static void test_markers(void **state)
{
	struct pgc_walk w = { .fd = -1, .wp_markers = true };
	const uint64_t marker = PM_SWAP | PM_UFFD_WP | 0x3f;	/* type 31, offset 1 */
	const uint64_t swapped = PM_SWAP | PM_UFFD_WP | (5ULL << 5) | 1;

	assert_true(pgc_walk_is_marker(&w, marker));
	assert_false(pgc_walk_is_marker(&w, swapped));
	assert_false(pgc_walk_is_marker(&w, PM_PRESENT | PM_UFFD_WP | 0x3f));
	assert_false(pgc_walk_is_marker(&w, 0));
	/* types hidden: a swap entry is a marker only with nothing swapped */
	assert_false(pgc_walk_is_marker(&w, PM_SWAP | PM_UFFD_WP));
	w.no_swap = true;
	assert_true(pgc_walk_is_marker(&w, PM_SWAP | PM_UFFD_WP));
	assert_false(pgc_walk_is_marker(&w, PM_SWAP));
	/* never in a walk of a process uffd-wp does not track */
	w.wp_markers = false;
	assert_false(pgc_walk_is_marker(&w, marker));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_fdinfo),
		cmocka_unit_test(test_written),
		cmocka_unit_test(test_markers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
