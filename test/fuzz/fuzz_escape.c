// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz_escape - the text escape and the JSON string writer (cmd/escape.c,
 * cmd/json.c) on any bytes: the text holds no control character, C1
 * control or invalid UTF-8 and unescapes to the input exactly; the JSON
 * is valid UTF-8 with no raw control character and decodes to the input
 * read as documented (each invalid byte as U+00XX).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * RFC 3629's table, written out apart from cmd/escape.c so that the check
 * does not share its bugs: the length of the sequence at @p, or 0.
 */
static size_t rfc3629_len(const unsigned char *p, size_t n)
{
	static const struct {
		unsigned char lead_lo, lead_hi, second_lo, second_hi;
		size_t len;
	} t[] = {
		{ 0x00, 0x7f, 0, 0, 1 },
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 },
		{ 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 },
		{ 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 },
		{ 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (p[0] < t[i].lead_lo || p[0] > t[i].lead_hi)
			continue;
		if (t[i].len == 1)
			return 1;
		if (n < t[i].len || p[1] < t[i].second_lo || p[1] > t[i].second_hi)
			return 0;
		for (size_t k = 2; k < t[i].len; k++)
			if (p[k] < 0x80 || p[k] > 0xbf)
				return 0;
		return t[i].len;
	}
	return 0;
}

/* Every character is valid UTF-8, none a C0, DEL or C1 control: else abort. */
static void check_clean(const unsigned char *p, size_t n)
{
	while (n) {
		size_t len = rfc3629_len(p, n);

		if (!len || (len == 1 && (p[0] < 0x20 || p[0] == 0x7f)) ||
		    (len == 2 && p[0] == 0xc2 && p[1] < 0xa0))
			abort();
		if (len != utf8_seq_len(p, n))
			abort();	/* the two readings of UTF-8 differ */
		p += len;
		n -= len;
	}
}

static void check_text(const char *in, size_t n)
{
	char *e = text_escape(in), *back, *o;

	if (!e)
		return;
	check_clean((const unsigned char *)e, strlen(e));
	back = malloc(strlen(e) + 1);
	if (!back)
		abort();
	o = back;
	for (const char *p = e; *p; p++) {
		if (*p != '\\') {
			*o++ = *p;
		} else if (p[1] == '\\') {
			*o++ = '\\';
			p++;
		} else if (p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
			*o++ = (char)(hexval(p[2]) << 4 | hexval(p[3]));
			p += 3;
		} else {
			abort();	/* a backslash the scheme does not make */
		}
	}
	*o = '\0';
	if ((size_t)(o - back) != n || memcmp(back, in, n))
		abort();	/* lossy */
	free(back);
	free(e);
}

/* Append code point @cp as UTF-8. */
static char *put_cp(char *o, unsigned int cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

static void check_json(const char *in, size_t n)
{
	char *out = NULL, *want, *got, *o, *w;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	struct json j;
	const unsigned char *p = (const unsigned char *)in;
	size_t left = n;

	if (!f)
		return;
	json_init(&j, f);
	json_str(&j, NULL, in);
	fclose(f);
	if (!out)
		return;
	/* {"..."}-less: a bare string; valid UTF-8 with no raw control */
	check_clean((const unsigned char *)out, len);
	if (len < 2 || out[0] != '"' || out[len - 1] != '"')
		abort();
	/* decode it as a JSON parser would */
	got = malloc(len * 4 + 1);
	want = malloc(n * 4 + 1);
	if (!got || !want)
		abort();
	o = got;
	for (size_t i = 1; i < len - 1; i++) {
		if (out[i] == '"')
			abort();	/* an unescaped quote ends the string early */
		if (out[i] != '\\') {
			*o++ = out[i];
			continue;
		}
		if (out[i + 1] == '"' || out[i + 1] == '\\') {
			*o++ = out[++i];
		} else if (out[i + 1] == 'u' && i + 5 < len - 1) {
			unsigned int cp = 0;

			for (int k = 2; k < 6; k++) {
				int h = hexval(out[i + k]);

				if (h < 0)
					abort();
				cp = cp << 4 | (unsigned int)h;
			}
			o = put_cp(o, cp);
			i += 5;
		} else {
			abort();
		}
	}
	/* the input as documented: each invalid byte read as U+00XX */
	w = want;
	while (left) {
		size_t l = rfc3629_len(p, left);

		if (!l) {
			w = put_cp(w, *p);
			l = 1;
		} else {
			memcpy(w, p, l);
			w += l;
		}
		p += l;
		left -= l;
	}
	if (o - got != w - want || memcmp(got, want, (size_t)(o - got)))
		abort();
	free(got);
	free(want);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	size_t n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);		/* names are C strings */
	check_text(s, n);
	check_json(s, n);
	free(s);
	return 0;
}
