// SPDX-License-Identifier: GPL-2.0-or-later
/* The --json writer: valid JSON whatever a mapping is called. */
#include "unit.h"
#include "json.h"

static char *render(void (*fn)(struct json *))
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct json j;

	json_init(&j, f);
	fn(&j);
	fclose(f);
	return out;
}

static void doc(struct json *j)
{
	json_open(j, NULL);
	json_str(j, "name", "a \"quoted\" \\ name\n\t\x01\x7f");
	json_u64(j, "n", 18446744073709551615ULL);
	json_hex(j, "addr", 0x7f3a00000000ULL);
	json_bool(j, "ok", true);
	json_open_array(j, "list");
	json_open(j, NULL);
	json_u64(j, "a", 1);
	json_close(j);
	json_open(j, NULL);
	json_close(j);
	json_close_array(j);
	json_double(j, "ms", 1.5);
	json_str(j, "null", NULL);
	json_close(j);
	json_end(j);
}

static void test_document(void **state)
{
	char *out = render(doc);

	assert_string_equal(out,
		"{\"name\":\"a \\\"quoted\\\" \\\\ name\\u000a\\u0009\\u0001\\u007f\","
		"\"n\":18446744073709551615,\"addr\":\"0x7f3a00000000\",\"ok\":true,"
		"\"list\":[{\"a\":1},{}],\"ms\":1.500,\"null\":\"\"}\n");
	free(out);
}

static void utf8(struct json *j)
{
	json_open(j, NULL);
	json_str(j, "k", "caf\xc3\xa9 /memfd:\xe2\x9c\x93 (deleted)");
	json_close(j);
}

static void test_utf8_passes_through(void **state)
{
	char *out = render(utf8);

	assert_string_equal(out, "{\"k\":\"caf\xc3\xa9 /memfd:\xe2\x9c\x93 (deleted)\"}");
	free(out);
}

static void hostile(struct json *j)
{
	json_open(j, NULL);
	/* ESC, a stray 0xff, a truncated sequence, an overlong '/', a C1 CSI,
	 * a surrogate, and a valid 4-byte character */
	json_str(j, "k", "\x1b[31m\xff\xe2\x9c /\xc0\xaf \xc2\x9b \xed\xa0\x80 \xf0\x9f\x98\x80");
	json_close(j);
}

static void test_invalid_utf8_becomes_escapes(void **state)
{
	char *out = render(hostile);

	assert_string_equal(out, "{\"k\":\"\\u001b[31m\\u00ff\\u00e2\\u009c /\\u00c0\\u00af "
				 "\\u009b \\u00ed\\u00a0\\u0080 \xf0\x9f\x98\x80\"}");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_utf8_passes_through),
		cmocka_unit_test(test_invalid_utf8_becomes_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
