// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stallvictim - the source of bench_snapshot.py: how long is it stopped?
 *
 * "stallvictim SIZE RATE" maps SIZE bytes of private anonymous memory,
 * touches every page, and runs two threads:
 *  - a writer that rewrites the range, one page after the other, at RATE
 *    bytes per second (in 10 ms steps), as a busy cache or database would;
 *  - a ticker that wakes every millisecond, writes one word of the range
 *    (so it takes the page faults any thread of the program would) and
 *    notes the longest gap between two of its ticks: that gap, less the
 *    millisecond it sleeps, is the longest time the program was stopped.
 * Commands on stdin, one answer line each:
 *   addr    -> ADDR of the range
 *   stall   -> the longest gap since the last "stall", in microseconds
 *   fork    -> the ticker forks once (the child exits at once); the
 *              answer is how long fork() took it, in microseconds
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static volatile uint64_t *base;
static uint64_t size, rate;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t forked = PTHREAD_COND_INITIALIZER;
static uint64_t max_gap_ns;
static int fork_wanted;
static uint64_t fork_ns;
static pid_t fork_child;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts))
		;
}

static void *writer(void *arg)
{
	uint64_t per_step = rate / 100, off = 0, gen = 0;

	(void)arg;
	for (;;) {
		for (uint64_t done = 0; done < per_step; done += PAGE) {
			volatile uint64_t *p = base + off / 8;

			for (size_t i = 0; i < PAGE / 8; i++)
				p[i] = gen;
			off += PAGE;
			if (off >= size) {
				off = 0;
				gen++;
			}
		}
		sleep_ns(10000000);
	}
	return NULL;
}

static void *ticker(void *arg)
{
	uint64_t last = now_ns(), i = 0;

	(void)arg;
	for (;;) {
		uint64_t t = now_ns();

		pthread_mutex_lock(&lock);
		if (t - last > max_gap_ns)
			max_gap_ns = t - last;
		if (fork_wanted) {
			uint64_t f = now_ns();
			pid_t c = fork();

			if (c == 0)
				_exit(0);
			fork_ns = now_ns() - f;
			/* reaped by the main thread: the child's exit is not the fork */
			fork_child = c;
			fork_wanted = 0;
			pthread_cond_signal(&forked);
		}
		pthread_mutex_unlock(&lock);
		/* a word of its own in each page, in turn: it faults like the rest */
		base[(i++ * PAGE / 8 + 1) % (size / 8)] = t;
		/* from the top of this tick: a fork above counts in the next gap */
		last = t;
		sleep_ns(1000000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	char line[64];
	pthread_t w, t;

	if (argc != 3) {
		fprintf(stderr, "usage: stallvictim SIZE RATE\n");
		return 2;
	}
	size = strtoull(argv[1], NULL, 0) & ~(uint64_t)(PAGE - 1);
	rate = strtoull(argv[2], NULL, 0);
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || !size || rate < 100 * PAGE) {
		fprintf(stderr, "stallvictim: bad size or rate\n");
		return 1;
	}
	memset((void *)base, 1, size);
	signal(SIGCHLD, SIG_DFL);
	if (pthread_create(&w, NULL, writer, NULL) || pthread_create(&t, NULL, ticker, NULL))
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	puts("ready");
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "addr", 4)) {
			printf("%p\n", (void *)base);
		} else if (!strncmp(line, "stall", 5)) {
			pthread_mutex_lock(&lock);
			printf("%llu\n", (unsigned long long)(max_gap_ns / 1000));
			max_gap_ns = 0;
			pthread_mutex_unlock(&lock);
		} else if (!strncmp(line, "fork", 4)) {
			pthread_mutex_lock(&lock);
			fork_wanted = 1;
			while (fork_wanted)
				pthread_cond_wait(&forked, &lock);
			printf("%llu\n", (unsigned long long)(fork_ns / 1000));
			pthread_mutex_unlock(&lock);
			if (fork_child > 0)
				waitpid(fork_child, NULL, 0);
		} else {
			puts("err");
		}
	}
	return 0;
}
