// SPDX-License-Identifier: GPL-2.0-or-later
/* Planning: every check a request must pass before anything changes. */
#include "unit.h"

static const char src_maps[] =
	"100000-104000 rw-p 00000000 00:00 0 [heap]\n"
	"104000-106000 r--p 00000000 00:00 0\n"
	"106000-108000 rw-p 00002000 fd:01 42 /data/file\n"
	"200000-201000 rw-p 00000000 00:00 0\n"
	"7fff0000-7fff2000 r-xp 00000000 00:00 0 [vdso]\n"
	"VmFlags: rd ex mr mw me de\n"
	"7fff3000-7fff4000 rw-p 00000000 00:00 0 sealed\n"
	"VmFlags: rd wr sl\n";

struct fixture {
	struct pgc_vma_list maps;
	struct pgc_plan plan;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(parse_text(src_maps, &f->maps), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->plan.r);
	free(f->plan.src_vma);
	pgc_maps_free(&f->maps);
	free(f);
	return 0;
}

static int build(struct fixture *f, uint64_t src, uint64_t len, pid_t dpid,
		 uint64_t dst)
{
	free(f->plan.r);
	free(f->plan.src_vma);
	pgc_clear_error();
	return pgc_plan_build(&f->plan, 1, &f->maps, src, len, dpid, dst);
}

static void test_to_end_of_mapping(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(build(f, 0x101234, 0, 2, 0x500000), 0);
	assert_int_equal(f->plan.src, 0x101000);
	assert_int_equal(f->plan.len, 0x3000);
	assert_int_equal(f->plan.n, 1);
	assert_int_equal(f->plan.r[0].dst, 0x500000);
	assert_int_equal(f->plan.r[0].pages, 3);
}

static void test_span(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(build(f, 0x102000, 0x5000, 2, 0x500000), 0);
	assert_int_equal(f->plan.n, 3);
	assert_int_equal(f->plan.r[0].map.start, 0x102000);
	assert_int_equal(f->plan.r[0].map.end, 0x104000);
	assert_int_equal(f->plan.r[1].dst, 0x502000);
	assert_int_equal(f->plan.r[1].map.prot, 1);
	/* a file range keeps the offset of where it starts */
	assert_int_equal(f->plan.r[2].map.start, 0x106000);
	assert_int_equal(f->plan.r[2].map.end, 0x107000);
	assert_int_equal(f->plan.r[2].map.offset, 0x2000);
	assert_int_equal(f->plan.r[2].dst, 0x504000);
	assert_int_equal(f->plan.r[2].map.kind, PGCLONE_KIND_FILE_PRIVATE);
	/* partial last page is rounded up */
	assert_int_equal(build(f, 0x100000, 1, 2, 0x500000), 0);
	assert_int_equal(f->plan.len, 0x1000);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(build(f, 0x300000, 0, 2, 0x500000), -EFAULT);
	assert_non_null(strstr(pgclone_last_error(), "not mapped"));
	assert_int_equal(build(f, 0x100000, 0x101000, 2, 0x500000), -EFAULT);
	assert_non_null(strstr(pgclone_last_error(), "hole in the source range at 0x108000-0x200000"));
	assert_int_equal(build(f, 0x7fff0000, 0, 2, 0x500000), -EOPNOTSUPP);
	assert_non_null(strstr(pgclone_last_error(), "[vdso]"));
	assert_int_equal(build(f, 0x100000, 0, 2, 0x500001), -EINVAL);
	assert_non_null(strstr(pgclone_last_error(), "not page aligned"));
	assert_int_equal(build(f, 0x100000, 0, 2, 0), -EINVAL);
	assert_int_equal(build(f, 0x100000, 0, 2, PGC_TASK_SIZE), -EINVAL);
	assert_int_equal(build(f, 0x100000, 0x2000, 2, PGC_TASK_SIZE - 0x1000), -EINVAL);
	assert_int_equal(build(f, 0xffffffff81000000ULL, 0, 2, 0x500000), -EINVAL);
	assert_int_equal(build(f, 0x100000, UINT64_MAX - 0x1000, 2, 0x500000), -EINVAL);
	assert_int_equal(build(f, 0x100000, 1ULL << 56, 2, 0x500000), -EINVAL);
	/* same process: destination over the source */
	assert_int_equal(build(f, 0x100000, 0x4000, 1, 0x103000), -EINVAL);
	assert_non_null(strstr(pgclone_last_error(), "overlaps the source"));
	/* another process may take the same addresses */
	assert_int_equal(build(f, 0x100000, 0x4000, 2, 0x103000), 0);
}

static void test_destination(void **state)
{
	struct fixture *f = *state;
	struct pgc_vma_list dst;

	assert_int_equal(parse_text(src_maps, &dst), 0);
	assert_int_equal(build(f, 0x200000, 0, 2, 0x103000), 0);
	assert_int_equal(pgc_plan_check_dst(&f->plan, &dst, false), -EEXIST);
	assert_non_null(strstr(pgclone_last_error(), "overlaps 0x100000-0x104000 [heap]"));
	pgc_clear_error();
	assert_int_equal(pgc_plan_check_dst(&f->plan, &dst, true), 0);
	/* free space: fine either way */
	assert_int_equal(build(f, 0x200000, 0, 2, 0x300000), 0);
	assert_int_equal(pgc_plan_check_dst(&f->plan, &dst, false), 0);
	/* replace must not touch what cannot move */
	assert_int_equal(build(f, 0x200000, 0, 2, 0x7fff0000), 0);
	assert_int_equal(pgc_plan_check_dst(&f->plan, &dst, true), -EOPNOTSUPP);
	pgc_clear_error();
	assert_int_equal(build(f, 0x200000, 0, 2, 0x7fff3000), 0);
	assert_int_equal(pgc_plan_check_dst(&f->plan, &dst, true), -EOPNOTSUPP);
	assert_non_null(strstr(pgclone_last_error(), "sealed"));
	pgc_maps_free(&dst);
}

/*
 * The destination's mappings are looked up, not all compared (plan.c):
 * a window meets exactly the mappings it overlaps, at either edge of
 * any of many, and none in the gaps between them.
 */
static void test_destination_among_many(void **state)
{
	enum { N = 300, GAP = 0x1000 };
	struct fixture *f = *state;
	struct pgc_vma_list dst;
	char *text = malloc(N * 64), *p = text;
	uint64_t base = 0x10000000;

	assert_non_null(text);
	for (int k = 0; k < N; k++)	/* one page mapped, one free, ... */
		p += sprintf(p, "%llx-%llx rw-p 00000000 00:00 0\n",
			     (unsigned long long)(base + k * 2 * GAP),
			     (unsigned long long)(base + k * 2 * GAP + GAP));
	assert_int_equal(parse_text(text, &dst), 0);
	assert_int_equal(dst.n, N);
	for (uint64_t a = base - 2 * GAP; a < base + 2 * N * GAP + GAP; a += GAP) {
		bool mapped = a >= base && a < base + 2 * N * GAP &&
			      !((a - base) / GAP % 2);

		/* one page: taken where a mapping is */
		assert_int_equal(build(f, 0x200000, 0, 2, a), 0);
		assert_int_equal(pgc_plan_check_dst(&f->plan, &dst, false),
				 mapped ? -EEXIST : 0);
		pgc_clear_error();
		/* two pages: always meet a mapping inside the list */
		assert_int_equal(build(f, 0x100000, 0x2000, 2, a), 0);
		assert_int_equal(pgc_plan_check_dst(&f->plan, &dst, false),
				 a + GAP >= base && a < base + (2 * N - 1) * GAP ?
				 -EEXIST : 0);
		pgc_clear_error();
	}
	pgc_maps_free(&dst);
	free(text);
}

static void test_thread_areas(void **state)
{
	struct fixture *f = *state;
	struct pgc_thread_area a[] = {
		{ 7, PGC_AREA_STACK, 0x4ffff8, 1 },	/* just below */
		{ 8, PGC_AREA_RSEQ, 0x501fe0, 32 },	/* inside */
		{ 9, PGC_AREA_ROBUST, 0x4ffff0, 0x20 },	/* reaches in */
	};
	struct pgc_thread_areas areas = { .pid = 2, .a = a, .n = 1 };

	assert_int_equal(build(f, 0x100000, 0x4000, 2, 0x500000), 0);
	assert_int_equal(pgc_plan_check_threads(&f->plan, &areas, false), 0);
	areas.n = 3;
	assert_int_equal(pgc_plan_check_threads(&f->plan, &areas, false), -EBUSY);
	assert_non_null(strstr(pgclone_last_error(),
			       "refusing to replace 0x500000-0x504000 in PID 2: it holds thread 8's rseq area at 0x501fe0, thread 9's robust-futex list head at 0x4ffff0"));
	assert_null(strstr(pgclone_last_error(), "thread 7"));
	pgc_clear_error();
	assert_int_equal(pgc_plan_check_threads(&f->plan, &areas, true), 0);
	assert_false(pgc_has_error());
}

static void test_dst_auto(void **state)
{
	struct fixture *f = *state;

	free(f->plan.r);
	free(f->plan.src_vma);
	assert_int_equal(pgc_plan_build_auto(&f->plan, 1, &f->maps, 0x102000, 0x5000, 1), 0);
	assert_int_equal(f->plan.dst, 0);
	assert_int_equal(f->plan.r[1].dst, 0x2000);
	assert_int_equal(pgc_plan_set_dst(&f->plan, 0x7f0000003000), 0);
	assert_int_equal(f->plan.r[0].dst, 0x7f0000003000);
	assert_int_equal(f->plan.r[2].dst, 0x7f0000007000);
	assert_int_equal(pgc_plan_set_dst(&f->plan, 0x7ffffffff000), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_to_end_of_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_span, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destination_among_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_areas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dst_auto, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
