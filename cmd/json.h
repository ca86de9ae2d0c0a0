/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PGCLONE_JSON_H
#define PGCLONE_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* A small streaming JSON writer: one object per run, commas handled. */
struct json {
	FILE *f;
	int depth;
	bool need_comma[16];
};

void json_init(struct json *j, FILE *f);
void json_open(struct json *j, const char *key);	/* { */
void json_close(struct json *j);			/* } */
void json_open_array(struct json *j, const char *key);	/* [ */
void json_close_array(struct json *j);			/* ] */
void json_str(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, uint64_t val);
void json_i64(struct json *j, const char *key, int64_t val);
void json_hex(struct json *j, const char *key, uint64_t val);	/* "0x..." */
void json_bool(struct json *j, const char *key, bool val);
void json_double(struct json *j, const char *key, double val);
void json_end(struct json *j);			/* newline */

#endif
