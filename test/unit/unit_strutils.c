// SPDX-License-Identifier: GPL-2.0-or-later
/* Addresses, sizes and pids as operators type them. */
#include <errno.h>

#include "unit.h"
#include "escape.h"
#include "strutils.h"

static void test_numbers(void **state)
{
	static const struct {
		const char *s;
		int ret;
		uint64_t v;
	} t[] = {
		{ "0", 0, 0 },
		{ "4096", 0, 4096 },
		{ "0x7f3a00000000", 0, 0x7f3a00000000ULL },
		{ "0X10", 0, 16 },
		{ "0xABCdef", 0, 0xabcdef },
		{ "4K", 0, 4096 },
		{ "4k", 0, 4096 },
		{ "2M", 0, 2 << 20 },
		{ "1G", 0, 1ULL << 30 },
		{ "3T", 0, 3ULL << 40 },
		{ "1KiB", 0, 1024 },
		{ "1MB", 0, 1 << 20 },
		{ "0x10M", 0, 16 << 20 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "0xffffffffffffffff", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "0x1ffffffffffffffff", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },
		{ "17179869184G", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "0x", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "12abc", -EINVAL, 0 },
		{ "1Q", -EINVAL, 0 },
		{ "1KK", -EINVAL, 0 },
		{ "1Kib", 0, 1024 },		/* either case, as the man page says */
		{ "1mb", 0, 1 << 20 },
		{ "1mib", 0, 1 << 20 },
		{ "2gB", 0, 2ULL << 30 },
		{ "1KBB", -EINVAL, 0 },
		{ "1Ki", -EINVAL, 0 },
		{ "1KiBs", -EINVAL, 0 },
		{ "K", -EINVAL, 0 },
		{ "0x1g", 0, 1ULL << 30 },	/* hex with a suffix, like 0x10M */
		{ "1e3", -EINVAL, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		uint64_t v = 0;

		print_message("'%s'\n", t[i].s);
		assert_int_equal(parse_u64(t[i].s, &v), t[i].ret);
		if (!t[i].ret)
			assert_int_equal(v, t[i].v);
	}
	assert_int_equal(parse_u64(NULL, NULL), -EINVAL);
}

static void test_pids(void **state)
{
	pid_t p;

	assert_int_equal(parse_pid("1", &p), 0);
	assert_int_equal(p, 1);
	assert_int_equal(parse_pid("4194304", &p), 0);
	assert_int_equal(parse_pid("4194305", &p), -ERANGE);
	assert_int_equal(parse_pid("0", &p), -ERANGE);
	assert_int_equal(parse_pid("-5", &p), -EINVAL);
	assert_int_equal(parse_pid("0x10", &p), -EINVAL);
	assert_int_equal(parse_pid("12a", &p), -EINVAL);
	assert_int_equal(parse_pid("", &p), -EINVAL);
	assert_int_equal(parse_pid("99999999999999999999999", &p), -EINVAL);
}

/* pgclone(1), ESCAPING: the one text scheme for names */
static void test_text_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "", "" },
		{ "/usr/lib/libc.so.6", "/usr/lib/libc.so.6" },
		{ "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80" },
		{ "a\x1b[31mb", "a\\x1b[31mb" },
		{ "row\nforged", "row\\x0aforged" },
		{ "\t\r\x7f\x01", "\\x09\\x0d\\x7f\\x01" },
		{ "back\\slash", "back\\\\slash" },
		{ "\xff\xfe", "\\xff\\xfe" },
		{ "\xc2\x9b" "1m", "\\xc2\\x9b" "1m" },	/* C1 CSI */
		{ "\xc2\xa0", "\xc2\xa0" },		/* U+00A0 is printable */
		{ "\xc0\xaf", "\\xc0\\xaf" },	/* overlong '/' */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },	/* a surrogate */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },	/* past U+10FFFF */
		{ "\xe2\x9c", "\\xe2\\x9c" },	/* cut short */
		{ "\xe2\x9c" "A", "\\xe2\\x9c" "A" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *e = text_escape(t[i].in);

		assert_non_null(e);
		assert_string_equal(e, t[i].out);
		free(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_pids),
		cmocka_unit_test(test_text_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
