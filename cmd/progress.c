// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * progress.c - turn SIGINT, SIGTERM and SIGHUP into a clean cancel (the
 * library rolls back and detaches), and show progress on a terminal.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pgclone.h>

#include "cli.h"

#define PROGRESS_MIN_BYTES (64ULL << 20)

static volatile sig_atomic_t cancel_requested;
static bool progress_shown;

static void on_signal(int sig)
{
	cancel_requested = sig;
}

void cancel_on_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: waits return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int cancel_signal(void)
{
	return cancel_requested;
}

static void exit_now(int sig)
{
	static const char msg[] = ": interrupted\n";

	(void)sig;
	/* write(2) and _exit(2) only: async-signal-safe */
	(void)!write(STDERR_FILENO, prog, strlen(prog));
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(EXIT_FAILED);
}

void exit_on_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = exit_now;
	sigfillset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	const struct cli *cli = ctx;
	static struct timespec last;
	static uint64_t last_done = UINT64_MAX;
	struct timespec now;

	if (cancel_requested)
		return 1;
	if (cli->quiet || cli->json || total < PROGRESS_MIN_BYTES ||
	    !isatty(STDERR_FILENO))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (done == last_done || (done < total && now.tv_sec == last.tv_sec &&
				  now.tv_nsec - last.tv_nsec < 200000000))
		return 0;
	last = now;
	last_done = done;
	fprintf(stderr, "\r%s: copying %llu/%llu MiB (%u%%)", prog,
		(unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
		(unsigned int)(total ? done * 100 / total : 100));
	progress_shown = true;
	return 0;
}

void progress_done(void)
{
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = false;
}

static bool live_always;

void set_live_progress(bool always)
{
	live_always = always;
}

/*
 * One line per round of a live dump: which round, what it stored, how
 * fast the source wrote since the round before, how long it was stopped.
 * On a terminal, or always with --progress; never with --quiet or --json.
 */
void live_progress(void *ctx, const struct pgclone_live_round *r)
{
	const struct cli *cli = ctx;

	if (cli->quiet || cli->json || (!live_always && !isatty(STDERR_FILENO)))
		return;
	progress_done();
	fprintf(stderr, "%s: live round %u%s: %llu pages, %llu bytes, dirty rate %.1f MB/s, stopped %.1f ms, %.1f ms\n",
		prog, r->round, r->final ? " (final, frozen)" : "",
		(unsigned long long)r->pages, (unsigned long long)r->bytes,
		r->dirty_rate / 1e6, (double)r->stopped_ns / 1e6,
		(double)r->elapsed_ns / 1e6);
}
