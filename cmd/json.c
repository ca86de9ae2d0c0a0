// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * json.c - write the one JSON object --json promises, with strings escaped
 * so that any mapping name (spaces, quotes, control bytes) stays valid.
 */
#include "json.h"

void json_init(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->need_comma[0] = false;
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
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

void json_double(struct json *j, const char *k, double val)
{
	key(j, k);
	fprintf(j->f, "%.3f", val);
}

void json_end(struct json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
