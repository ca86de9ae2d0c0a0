// SPDX-License-Identifier: GPL-2.0-or-later
/* /proc/PID/maps and smaps parsing, classification and lookup. */
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include "unit.h"

static void parse_ok(const char *line, struct pgc_vma *v)
{
	assert_int_equal(pgc_maps_parse_line(line, v), 0);
}

static void test_fields(void **state)
{
	struct pgc_vma v;

	parse_ok("7f3a00000000-7f3a00021000 rw-p 00001000 fd:01 123456   /usr/lib/libc.so.6\n", &v);
	assert_int_equal(v.m.start, 0x7f3a00000000ULL);
	assert_int_equal(v.m.end, 0x7f3a00021000ULL);
	assert_int_equal(v.m.prot, PROT_READ | PROT_WRITE);
	assert_int_equal(v.m.shared, 0);
	assert_int_equal(v.m.offset, 0x1000);
	assert_int_equal(v.dev_major, 0xfd);
	assert_int_equal(v.dev_minor, 1);
	assert_int_equal(v.m.dev, makedev(0xfd, 1));
	assert_int_equal(v.m.ino, 123456);
	assert_string_equal(v.name, "/usr/lib/libc.so.6");
	free(v.name);

	parse_ok("55d0c0a00000-55d0c0a21000 --xs 00000000 00:00 0", &v);
	assert_int_equal(v.m.prot, PROT_EXEC);
	assert_int_equal(v.m.shared, 1);
	assert_string_equal(v.name, "");
	free(v.name);
}

static void test_names(void **state)
{
	static const char *const names[] = {
		"/home/user/my file with spaces.bin",
		"/tmp/gone (deleted)",
		"[anon:my name]",
		"[heap]",
		"[stack]",
		"/memfd:x (deleted)",
	};
	char line[256];
	struct pgc_vma v;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(line, sizeof(line), "1000-2000 rw-p 00000000 00:05 7 %s\n",
			 names[i]);
		parse_ok(line, &v);
		assert_string_equal(v.name, names[i]);
		free(v.name);
	}
}

static void test_huge_addresses(void **state)
{
	struct pgc_vma v;

	parse_ok("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]", &v);
	assert_int_equal(v.m.start, 0xffffffffff600000ULL);
	free(v.name);
	parse_ok("7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]", &v);
	assert_int_equal(v.m.end, 0x7ffffffff000ULL);
	free(v.name);
	parse_ok("ff000000000000-ff000000001000 rw-p 00000000 00:00 0", &v);
	assert_int_equal(v.m.start, 0xff000000000000ULL);
	free(v.name);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"1000-2000",
		"1000-2000 rw-p",
		"1000-2000 rw-p 0 00:00",
		"1000 2000 rw-p 00000000 00:00 0",
		"1000-2000 rwxq 00000000 00:00 0",
		"1000-2000 rw 00000000 00:00 0",
		"10g0-2000 rw-p 00000000 00:00 0",
		"2000-1000 rw-p 00000000 00:00 0",
		"2000-2000 rw-p 00000000 00:00 0",
		"1001-2000 rw-p 00000000 00:00 0",
		"1000-2001 rw-p 00000000 00:00 0",
		"10000000000000000-20000000000000000 rw-p 00000000 00:00 0",
		"1000-2000 rw-p 00000000 00:00 x",
		"1000-2000 rw-p 00000000 0000 0",
		"1000-2000 rw-p 00000000 00:00 99999999999999999999999",
	};
	struct pgc_vma v;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		print_message("bad line %zu: '%s'\n", i, bad[i]);
		assert_int_equal(pgc_maps_parse_line(bad[i], &v), -EINVAL);
	}
}

static void test_vmflags(void **state)
{
	struct pgc_vma v = { 0 };

	pgc_maps_parse_vmflags(" rd wr mr mw me ac sd hg dd wf mg\n", &v);
	assert_int_equal(v.vmflags, VMF_MAYWRITE);
	assert_int_equal(v.m.advice, PGCLONE_ADV_HUGEPAGE | PGCLONE_ADV_DONTDUMP |
				     PGCLONE_ADV_WIPEONFORK | PGCLONE_ADV_MERGEABLE);
	pgc_maps_parse_vmflags(" rd io pf de ht mm um uw lo nr sl gd ss nh dc sr rr", &v);
	assert_int_equal(v.vmflags, VMF_IO | VMF_PFNMAP | VMF_DONTEXPAND |
				    VMF_HUGETLB | VMF_MIXEDMAP | VMF_UFFD |
				    VMF_UFFD_WP | VMF_UFFD_MI |
				    VMF_LOCKED | VMF_NORESERVE | VMF_SEALED |
				    VMF_GROWSDOWN | VMF_SHADOW_STACK);
	assert_int_equal(v.m.advice, PGCLONE_ADV_NOHUGEPAGE | PGCLONE_ADV_DONTFORK |
				     PGCLONE_ADV_SEQUENTIAL | PGCLONE_ADV_RANDOM);
	/* write-protect mode alone (uffd-wp tracking's), and the others */
	pgc_maps_parse_vmflags(" rd wr mr mw me uw ac", &v);
	assert_int_equal(v.vmflags, VMF_MAYWRITE | VMF_UFFD | VMF_UFFD_WP);
	pgc_maps_parse_vmflags(" rd wr ui", &v);
	assert_int_equal(v.vmflags, VMF_UFFD | VMF_UFFD_MI);
}

static enum pgclone_kind kind_of(const char *line, const char *flags,
				 enum pgclone_refusal *why)
{
	struct pgc_vma v;
	enum pgclone_kind k;

	parse_ok(line, &v);
	pgc_maps_parse_vmflags(flags, &v);
	pgc_vma_classify(&v);
	*why = v.m.refusal;
	k = v.m.kind;
	free(v.name);
	return k;
}

static void test_classify(void **state)
{
	static const struct {
		const char *line, *flags;
		enum pgclone_kind kind;
		enum pgclone_refusal why;
	} t[] = {
		{ "1000-2000 rw-p 00000000 00:00 0 [heap]", "rd wr", PGCLONE_KIND_ANON_PRIVATE, PGCLONE_OK },
		{ "1000-2000 rw-p 00000000 00:00 0 [anon:x y]", "rd wr", PGCLONE_KIND_ANON_PRIVATE, PGCLONE_OK },
		{ "1000-2000 rw-s 00000000 00:01 9 /dev/zero (deleted)", "rd wr sh", PGCLONE_KIND_ANON_SHARED, PGCLONE_OK },
		{ "1000-2000 rw-s 00000000 00:01 9 /memfd:x (deleted)", "rd wr sh", PGCLONE_KIND_ANON_SHARED, PGCLONE_OK },
		{ "1000-2000 rw-s 00000000 00:01 9 /SYSV00000000 (deleted)", "rd wr sh", PGCLONE_KIND_ANON_SHARED, PGCLONE_OK },
		{ "1000-2000 r--p 00000000 fd:01 9 /usr/lib/x.so", "rd", PGCLONE_KIND_FILE_PRIVATE, PGCLONE_OK },
		{ "1000-2000 rw-s 00000000 fd:01 9 /data/db", "rd wr sh", PGCLONE_KIND_FILE_SHARED, PGCLONE_OK },
		{ "1000-2000 r-xp 00000000 00:00 0 [vdso]", "rd ex", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_VDSO },
		{ "1000-2000 r--p 00000000 00:00 0 [vvar]", "rd io pf", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_VVAR },
		{ "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]", "ex", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_VSYSCALL },
		{ "1000-2000 rw-s 00000000 00:05 9 /dev/fb0", "rd wr sh io", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_IO },
		{ "1000-2000 rw-s 00000000 00:05 9 /dev/mem", "rd wr sh pf", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_PFNMAP },
		{ "1000-2000 rw-s 00000000 00:05 9 /dev/dri", "rd wr sh mm", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_PFNMAP },
		{ "1000-2000 rw-p 00000000 00:00 0", "rd wr um", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_UFFD },
		{ "1000-2000 rw-p 00000000 00:00 0", "rd wr uw", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_UFFD },
		{ "1000-2000 rw-p 00000000 00:0f 9 /anon_hugepage (deleted)", "rd wr ht", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_HUGETLB },
		{ "1000-2000 rw-s 00000000 00:0e 9 [aio] (deleted)", "rd wr sh de", PGCLONE_KIND_SPECIAL, PGCLONE_REFUSE_DONTEXPAND },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		enum pgclone_refusal why;

		print_message("case %zu: %s\n", i, t[i].line);
		assert_int_equal(kind_of(t[i].line, t[i].flags, &why), t[i].kind);
		assert_int_equal(why, t[i].why);
	}
}

static const char smaps[] =
	"00400000-00401000 r-xp 00000000 fd:01 42 /bin/prog\n"
	"Size:                  4 kB\n"
	"AnonHugePages:         0 kB\n"
	"VmFlags: rd ex mr mw me\n"
	"00600000-00800000 rw-p 00000000 00:00 0 [heap]\n"
	"Size:               2048 kB\n"
	"VmFlags: rd wr mr mw me ac hg\n"
	"7fff0000-7fff2000 r-xp 00000000 00:00 0 [vdso]\n"
	"VmFlags: rd ex mr mw me de\n";

static void test_stream_and_find(void **state)
{
	struct pgc_vma_list l;

	assert_int_equal(parse_text(smaps, &l), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].m.kind, PGCLONE_KIND_FILE_PRIVATE);
	assert_int_equal(l.v[1].m.advice, PGCLONE_ADV_HUGEPAGE);
	assert_int_equal(l.v[2].m.refusal, PGCLONE_REFUSE_VDSO);
	assert_ptr_equal(pgc_maps_find(&l, 0x400000), &l.v[0]);
	assert_ptr_equal(pgc_maps_find(&l, 0x400fff), &l.v[0]);
	assert_null(pgc_maps_find(&l, 0x401000));
	assert_null(pgc_maps_find(&l, 0x3fffff));
	assert_ptr_equal(pgc_maps_find(&l, 0x7fffff), &l.v[1]);
	assert_ptr_equal(pgc_maps_find(&l, 0x7fff1fff), &l.v[2]);
	assert_null(pgc_maps_find(&l, 0x7fff2000));
	pgc_maps_free(&l);
	/* a malformed header line fails the whole read */
	assert_int_equal(parse_text("1000-2000 rw-p zz 00:00 0\n", &l), -EINVAL);
	pgc_maps_free(&l);
}

static void test_read_self(void **state)
{
	struct pgc_vma_list l;
	bool heap_or_stack = false;

	assert_int_equal(pgc_maps_read(getpid(), &l), 0);
	assert_true(l.n > 3);
	for (size_t i = 0; i < l.n; i++) {
		if (i)
			assert_true(l.v[i].m.start >= l.v[i - 1].m.end);
		if (!strcmp(l.v[i].name, "[stack]"))
			heap_or_stack = true;
	}
	assert_true(heap_or_stack);
	pgc_maps_free(&l);
	assert_int_equal(pgc_maps_read(0x3ffffffe, &l), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_huge_addresses),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_vmflags),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_stream_and_find),
		cmocka_unit_test(test_read_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
