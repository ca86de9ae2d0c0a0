// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * log.c - the library never prints: messages go to a caller's callback,
 * and the reason for the last failure is kept per thread for the caller
 * to show as its one error line.
 */
#include <stdarg.h>
#include <stdio.h>

#include "pgcloneP.h"

static pgclone_log_fn log_fn;
static void *log_ctx;
static enum pgclone_log_level log_level = PGCLONE_LOG_WARN;

static __thread char last_error[512];
static __thread bool hushed;

bool pgc_log_hush(bool quiet)
{
	bool was = hushed;

	hushed = quiet;
	return was;
}

void pgclone_set_log(pgclone_log_fn fn, void *ctx, enum pgclone_log_level level)
{
	log_fn = fn;
	log_ctx = ctx;
	log_level = level;
}

__attribute__((format(printf, 2, 0)))
static void vlog(enum pgclone_log_level level, const char *fmt, va_list ap)
{
	char msg[512];

	if (!log_fn || level > log_level ||
	    (hushed && level != PGCLONE_LOG_ERROR))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_fn(log_ctx, level, msg);
}

void pgc_log(enum pgclone_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

int pgc_fail(int err, const char *fmt, ...)
{
	va_list ap;

	if (!last_error[0]) {
		va_start(ap, fmt);
		vsnprintf(last_error, sizeof(last_error), fmt, ap);
		va_end(ap);
	}
	va_start(ap, fmt);
	vlog(PGCLONE_LOG_ERROR, fmt, ap);
	va_end(ap);
	return err;
}

void pgc_clear_error(void)
{
	last_error[0] = '\0';
}

bool pgc_has_error(void)
{
	return last_error[0] != '\0';
}

const char *pgclone_last_error(void)
{
	return last_error;
}

int pgc_ret(int ret)
{
	if (ret < 0)
		errno = -ret;
	return ret;
}
