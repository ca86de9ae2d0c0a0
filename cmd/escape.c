// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * escape.c - make names from other users and from images safe to print:
 * no terminal control sequence, no forged line, no invalid UTF-8.
 */
#include <stdlib.h>
#include <string.h>

#include "escape.h"

size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned int cp;

	if (!n)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;	/* a continuation byte, 0xc0, 0xc1 or 0xf5-0xff */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates and beyond U+10FFFF are not UTF-8 */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

int escape_needed(const unsigned char *p, size_t seq_len)
{
	if (seq_len == 1)
		return p[0] < 0x20 || p[0] == 0x7f;
	/* C1 controls: U+0080-U+009F, 0xc2 0x80-0x9f; CSI is U+009B */
	return seq_len == 2 && p[0] == 0xc2 && p[1] < 0xa0;
}

static size_t escape_into(const char *s, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0;

	while (n) {
		size_t len = utf8_seq_len(p, n);
		size_t raw = len ? len : 1;

		if (len == 1 && p[0] == '\\') {
			if (out) {
				out[o] = '\\';
				out[o + 1] = '\\';
			}
			o += 2;
		} else if (!len || escape_needed(p, len)) {
			for (size_t i = 0; i < raw; i++, o += 4)
				if (out) {
					out[o] = '\\';
					out[o + 1] = 'x';
					out[o + 2] = hex[p[i] >> 4];
					out[o + 3] = hex[p[i] & 0xf];
				}
		} else {
			if (out)
				memcpy(out + o, p, len);
			o += len;
		}
		p += raw;
		n -= raw;
	}
	return o;
}

char *text_escape(const char *s)
{
	size_t len;
	char *out;

	if (!s)
		s = "";
	len = escape_into(s, NULL);
	out = malloc(len + 1);
	if (!out)
		return NULL;
	escape_into(s, out);
	out[len] = '\0';
	return out;
}

void fputs_escaped(const char *s, FILE *f)
{
	char *e = text_escape(s);

	/* without memory for the copy, say so rather than print it raw */
	fputs(e ? e : "(name not shown: out of memory)", f);
	free(e);
}
