/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PGCLONE_ESCAPE_H
#define PGCLONE_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Names pgclone prints (mapped files, image ranges, library messages that
 * embed them) come from other users and from untrusted images: they must
 * never reach a terminal or a JSON consumer raw.  One scheme, documented
 * in pgclone(1), ESCAPING:
 *
 * text: a control byte (0x00-0x1f, 0x7f), a C1 control (U+0080-U+009F) and
 *   any byte that is not part of valid UTF-8 are written as \xHH (two
 *   lower-case hex digits, one per byte); a backslash as \\.  Every other
 *   byte passes, so the text stays readable and the original is recovered
 *   exactly by undoing the two escapes.
 * JSON: see json.c; the same bytes become \u00HH.
 */

/*
 * The length of the valid, shortest-form UTF-8 sequence for a code point
 * up to U+10FFFF (no surrogates) that starts at @p, of at most @n bytes;
 * 0 when @p does not start one.
 */
size_t utf8_seq_len(const unsigned char *p, size_t n);

/* True for the bytes of a valid sequence text and JSON must escape. */
int escape_needed(const unsigned char *p, size_t seq_len);

/* @s escaped for text output, in a new string (NULL only without memory). */
char *text_escape(const char *s);

/* Print @s escaped for text output. */
void fputs_escaped(const char *s, FILE *f);

#endif
