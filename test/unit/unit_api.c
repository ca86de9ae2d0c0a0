// SPDX-License-Identifier: GPL-2.0-or-later
/* Public API argument checks: opts structs, flags, the errno contract. */
#include <errno.h>

#include "unit.h"
#include "uapi/process_vm_mmap.h"

struct bigger_opts {
	struct pgclone_opts o;
	uint64_t future_field;
};

static void test_opts(void **state)
{
	struct pgclone_result res = { .sz = sizeof(res) };
	struct bigger_opts big;
	struct pgclone_opts tiny = { .sz = 1 };

	PGCLONE_OPTS(bad_flags, .flags = 1u << 20);
	PGCLONE_OPTS(bad_engine, .engine = (enum pgclone_engine)7);
	PGCLONE_OPTS(ok);

	errno = 0;
	assert_int_equal(pgclone_clone(getpid(), 0x1000, 0, getpid(), 0x2000,
				       &bad_flags, &res), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(pgclone_last_error(), "unknown flags"));
	assert_int_equal(pgclone_clone(getpid(), 0x1000, 0, getpid(), 0x2000,
				       &bad_engine, &res), -EINVAL);
	assert_int_equal(pgclone_clone(getpid(), 0x1000, 0, getpid(), 0x2000,
				       &tiny, &res), -EINVAL);
	/* a newer caller's bigger struct: fine while the tail is zero */
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.o.flags = PGCLONE_DRY_RUN;
	big.future_field = 1;
	assert_int_equal(pgclone_clone(getpid(), 0x1000, 0, getpid(), 0x2000,
				       &big.o, &res), -EINVAL);
	assert_non_null(strstr(pgclone_last_error(), "unknown fields"));
	/* pids */
	assert_int_equal(pgclone_clone(0, 0x1000, 0, getpid(), 0x2000, &ok, &res),
			 -EINVAL);
	assert_int_equal(pgclone_clone(getpid(), 0x1000, 0, -1, 0x2000, &ok, &res),
			 -EINVAL);
	/* a result struct too small for what the library fills */
	res.sz = 8;
	assert_int_equal(pgclone_clone(getpid(), 0x1000, 0, getpid(), 0x2000, &ok,
				       &res), -EINVAL);
}

static void test_image_opts(void **state)
{
	struct pgclone_result res = { .sz = sizeof(res) };
	struct pgclone_image_info info = { .sz = sizeof(info) };

	PGCLONE_OPTS_OF(pgclone_image_opts, dump_bad, .flags = PGCLONE_REPLACE);
	PGCLONE_OPTS_OF(pgclone_image_opts, restore_bad, .flags = PGCLONE_MOVE);

	assert_int_equal(pgclone_dump(getpid(), 0, 0, 1, &dump_bad, &res), -EINVAL);
	assert_int_equal(pgclone_dump(getpid(), 0, 0, -1, NULL, &res), -EINVAL);
	assert_int_equal(pgclone_restore(getpid(), 0, &restore_bad, &res), -EINVAL);
	assert_int_equal(pgclone_image_info(0, 0x80, &info), -EINVAL);
	/* an update: with its chain, into the clone that is there */
	{
		int chain[1] = { 0 };
		PGCLONE_OPTS_OF(pgclone_image_opts, no_chain, .flags = PGCLONE_UPDATE);
		PGCLONE_OPTS_OF(pgclone_image_opts, replace,
				.flags = PGCLONE_UPDATE | PGCLONE_REPLACE,
				.chain = chain, .nr_chain = 1);
		PGCLONE_OPTS_OF(pgclone_image_opts, automatic,
				.flags = PGCLONE_UPDATE | PGCLONE_DST_AUTO,
				.chain = chain, .nr_chain = 1);

		assert_int_equal(pgclone_restore(getpid(), 0, &no_chain, &res), -EINVAL);
		assert_non_null(strstr(pgclone_last_error(), "opts->chain"));
		assert_int_equal(pgclone_restore(getpid(), 0, &replace, &res), -EINVAL);
		assert_int_equal(pgclone_restore(getpid(), 0, &automatic, &res), -EINVAL);
		assert_non_null(strstr(pgclone_last_error(), "PGCLONE_UPDATE"));
	}
	assert_int_equal(pgclone_image_info(-1, 0, &info), -EINVAL);
}

/* The kernel has the series: its entry point is in the symbol table. */
static bool kernel_has_process_vm_mmap(void)
{
	bool found = false;
#ifdef PVM_MMAP_ENTRY
	char line[512];
	FILE *f = fopen("/proc/kallsyms", "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, " " PVM_MMAP_ENTRY "\n") != NULL;
	if (f)
		fclose(f);
#endif
	return found;
}

static void test_probe_and_names(void **state)
{
	bool have = kernel_has_process_vm_mmap();

	assert_int_equal(pgclone_engine_probe(PGCLONE_ENGINE_COPY), 0);
	assert_int_equal(pgclone_engine_probe(PGCLONE_ENGINE_AUTO), 0);
	assert_int_equal(pgclone_engine_probe(PGCLONE_ENGINE_KERNEL), have ? 0 : -ENOSYS);
	assert_int_equal(pgclone_engine_probe((enum pgclone_engine)9), -EINVAL);
	assert_string_equal(pgclone_engine_name(PGCLONE_ENGINE_COPY), "copy");
	assert_string_equal(pgclone_kind_name(PGCLONE_KIND_FILE_SHARED), "file-shared");
	assert_non_null(strstr(pgclone_refusal_name(PGCLONE_REFUSE_VDSO), "vdso"));
	assert_string_equal(pgclone_version(), "0.1.0");
}

static void test_result_free_is_safe(void **state)
{
	struct pgclone_result res = { .sz = sizeof(res) };

	pgclone_result_free(&res);
	pgclone_result_free(&res);
	pgclone_result_free(NULL);
	assert_int_equal(res.sz, sizeof(res));
	pgclone_maps_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_image_opts),
		cmocka_unit_test(test_probe_and_names),
		cmocka_unit_test(test_result_free_is_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
