// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * json.c - write the one JSON object --json promises, with strings escaped
 * so that any mapping name (quotes, control bytes, invalid UTF-8) stays
 * valid JSON.
 */
#include <string.h>

#include "escape.h"
#include "json.h"

void json_init(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->need_comma[0] = false;
}

/*
 * Always valid JSON (RFC 8259), whatever the bytes: '"' and '\\' escaped,
 * control characters (C0, DEL and the C1 U+0080-U+009F) as \u00XX, and each
 * byte that is not part of valid UTF-8 as \u00XX of its value (0x80-0xff,
 * read as Latin-1), as pgclone(1) documents under ESCAPING.  The one loss:
 * a stray byte 0xHH and a real character U+00HH parse alike.
 */
static void put_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	fputc('"', f);
	while (n) {
		size_t len = utf8_seq_len(p, n);

		if (len == 1 && (*p == '"' || *p == '\\'))
			fprintf(f, "\\%c", *p);
		else if (!len)
			fprintf(f, "\\u%04x", *p);
		else if (escape_needed(p, len))
			fprintf(f, "\\u%04x", len == 1 ? *p : p[1]);
		else
			fwrite(p, 1, len, f);
		p += len ? len : 1;
		n -= len ? len : 1;
	}
	fputc('"', f);
}

static void key(struct json *j, const char *k)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	if (k) {
		put_string(j->f, k);
		fputc(':', j->f);
	}
}

static void push(struct json *j, const char *k, char c)
{
	key(j, k);
	fputc(c, j->f);
	if (j->depth < 15)
		j->depth++;
	j->need_comma[j->depth] = false;
}

void json_open(struct json *j, const char *k) { push(j, k, '{'); }
void json_open_array(struct json *j, const char *k) { push(j, k, '['); }

void json_close(struct json *j)
{
	fputc('}', j->f);
	if (j->depth)
		j->depth--;
}

void json_close_array(struct json *j)
{
	fputc(']', j->f);
	if (j->depth)
		j->depth--;
}

void json_str(struct json *j, const char *k, const char *val)
{
	key(j, k);
	put_string(j->f, val ? val : "");
}

void json_u64(struct json *j, const char *k, uint64_t val)
{
	key(j, k);
	fprintf(j->f, "%llu", (unsigned long long)val);
}

void json_hex(struct json *j, const char *k, uint64_t val)
{
	key(j, k);
	fprintf(j->f, "\"0x%llx\"", (unsigned long long)val);
}

void json_bool(struct json *j, const char *k, bool val)
{
	key(j, k);
	fputs(val ? "true" : "false", j->f);
}

void json_i64(struct json *j, const char *k, int64_t val)
{
	key(j, k);
	fprintf(j->f, "%lld", (long long)val);
}

void json_double(struct json *j, const char *k, double val)
{
	key(j, k);
	fprintf(j->f, "%.3f", val);
}

/* No flush here: output_exit() flushes and checks stdout once, at the end. */
void json_end(struct json *j)
{
	fputc('\n', j->f);
}
