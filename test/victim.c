// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * victim - a process for pgclone's integration tests to clone from and into.
 *
 * It reads one command per line on stdin and answers one line on stdout,
 * so a test can build exactly the mappings it needs, ask the process what
 * it sees at an address, and check it is still alive and well.
 *
 *   anon LEN [FILL]        private anonymous, every page filled   -> ADDR
 *   sparse LEN STEP        private anonymous, one page per STEP   -> ADDR
 *   thp LEN                2 MiB-aligned, MADV_HUGEPAGE, filled    -> ADDR
 *   shared LEN             MAP_SHARED|MAP_ANONYMOUS, filled        -> ADDR
 *   memfd LEN              memfd MAP_SHARED, filled                -> ADDR
 *   sysv LEN               SysV shm segment, filled                -> ADDR
 *   file PATH LEN MODE     mmap PATH private|shared                -> ADDR
 *   reserve LEN [noreserve]
 *                          private anonymous, never touched
 *                          (MAP_NORESERVE: LEN may exceed memory)  -> ADDR
 *   fill ADDR LEN SEED     write the pattern for SEED              -> ok
 *   poke ADDR BYTE         write one byte                          -> ok
 *   peek ADDR              read one byte                           -> BYTE
 *   sum ADDR LEN           FNV-1a of the bytes, as this process sees them
 *   prot ADDR LEN PROT     mprotect (PROT as rwx string or ---)    -> ok
 *   stripes ADDR LEN PROT  mprotect every other page, from the
 *                          second: one VMA per page                -> ok
 *   name ADDR LEN NAME     PR_SET_VMA_ANON_NAME                    -> ok
 *   advise ADDR LEN ADV    madvise by name (hugepage, dontdump...) -> ok
 *   unmap ADDR LEN         munmap                                  -> ok
 *   seal ADDR LEN          mseal(2)                                -> ok|err ERRNO
 *   threads N              N threads blocked in read() on a pipe   -> ok
 *   wake                   write N bytes to the pipe; report how
 *                          the reads ended                         -> ok N|bad ...
 *   scribble ADDR LEN      a thread sweeps a counter over the
 *                          first 8 bytes of every page, forever    -> ok
 *   churn N                N threads, each creating and joining a
 *                          short-lived thread in a loop, forever   -> ok
 *   areas main|I           what the main thread (or reader thread I,
 *                          from "threads") keeps in memory: its tid,
 *                          TLS (thread pointer), rseq area, robust
 *                          list head and a stack address -> TID TLS RSEQ ROBUST SP
 *   undumpable             prctl(PR_SET_DUMPABLE, 0)               -> ok
 *   rseq                   where the kernel keeps this thread's rseq
 *                          area (it rewrites cpu_id whenever the
 *                          thread runs, stopped or not)            -> ADDR|none
 *   seccomp-kill-mmap      filter: mmap kills the process          -> ok
 *   seccomp-errno-pvr      filter: process_vm_readv fails EPERM    -> ok
 *   seccomp-kill-clone     filter: clone(2) kills the process      -> ok
 *   gens ADDR LEN US       a thread rewrites the range word by word,
 *                          generation after generation: word I of
 *                          generation G holds G << 32 | I, so any
 *                          instant of it is checkable; generation 1
 *                          is written before the answer; it sleeps US
 *                          microseconds after every 64 pages        -> ok
 *   gen                    generations the writer has finished      -> N
 *   rewrite ADDR LEN RATE  a thread rewrites the range page by page at
 *                          RATE bytes a second (10 ms steps), new bytes
 *                          each pass (a live dump's source)         -> ok
 *   count-signals          count every signal a program may be sent
 *                          by accident (SIGCHLD, SIGUSR1, ...)      -> ok
 *   signals                how many of them arrived                 -> N
 *   catch-sigtrap          a SIGTRAP handler that counts           -> ok
 *   sigtraps               how many SIGTRAPs the handler saw       -> N
 *   ping                                                           -> pong
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static int wake_pipe[2] = { -1, -1 };
static volatile sig_atomic_t sigtraps;

static void on_sigtrap(int sig)
{
	(void)sig;
	sigtraps++;
}
static int nthreads;
static int reads_ok, reads_bad;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static uint8_t pattern(uint64_t addr_off, unsigned seed)
{
	uint64_t x = addr_off * 0x9e3779b97f4a7c15ULL + seed;

	return (uint8_t)(x >> 29) | 1;	/* never 0: a zero page is not data */
}

static void fill(uint8_t *p, uint64_t len, unsigned seed)
{
	for (uint64_t i = 0; i < len; i++)
		p[i] = pattern(i, seed);
}

static uint64_t fnv(const uint8_t *p, uint64_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (uint64_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static int parse_prot(const char *s)
{
	int prot = 0;

	if (strchr(s, 'r'))
		prot |= PROT_READ;
	if (strchr(s, 'w'))
		prot |= PROT_WRITE;
	if (strchr(s, 'x'))
		prot |= PROT_EXEC;
	return prot;
}

/* What the kernel and libc keep of one thread in its memory. */
struct thread_areas {
	long tid;
	unsigned long tls, rseq, robust, sp;
};
static struct thread_areas areas[64];
static int nareas;

static void note_areas(struct thread_areas *t)
{
	void *head = NULL;
	size_t len = 0;
	volatile char here = 0;

	t->tid = syscall(SYS_gettid);
	t->tls = (unsigned long)__builtin_thread_pointer();
	t->rseq = __rseq_size ? t->tls + (unsigned long)__rseq_offset : 0;
	if (!syscall(SYS_get_robust_list, 0, &head, &len))
		t->robust = (unsigned long)head;
	t->sp = (unsigned long)&here;	/* near enough: within its stack page */
}

static void *reader(void *arg)
{
	char c;
	ssize_t n;

	(void)arg;
	pthread_mutex_lock(&lock);
	if (nareas < (int)(sizeof(areas) / sizeof(areas[0])))
		note_areas(&areas[nareas++]);
	pthread_mutex_unlock(&lock);
	n = read(wake_pipe[0], &c, 1);
	pthread_mutex_lock(&lock);
	if (n == 1)
		reads_ok++;
	else
		reads_bad++;
	pthread_mutex_unlock(&lock);
	return NULL;
}

struct sweep {
	volatile uint64_t *base;
	uint64_t pages;
};

/* Page i holds the number of sweeps that have passed it. */
static void *scribbler(void *arg)
{
	struct sweep *sw = arg;

	for (uint64_t n = 1;; n++)
		for (uint64_t i = 0; i < sw->pages; i++)
			sw->base[i * 512] = n;
	return NULL;
}

/* "rewrite": RATE bytes a second of the range rewritten, in 10 ms steps,
 * each pass with new bytes (a live dump's source). */
struct rewrite {
	volatile uint64_t *base;
	uint64_t len, rate;
};

static void *rewriter(void *arg)
{
	struct rewrite *rw = arg;
	uint64_t off = 0, gen = 1;

	for (;;) {
		struct timespec ts = { 0, 10000000 };

		for (uint64_t done = 0; done < rw->rate / 100; done += 4096) {
			volatile uint64_t *p = rw->base + off / 8;

			for (size_t i = 0; i < 4096 / 8; i++)
				p[i] = gen * 0x9e3779b97f4a7c15ULL + off + i;
			off += 4096;
			if (off >= rw->len) {
				off = 0;
				gen++;
			}
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *exit_at_once(void *arg)
{
	return arg;
}

/* Threads come and go all the time: some are exiting whenever we look. */
static void *churner(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_t t;

		if (!pthread_create(&t, NULL, exit_at_once, NULL))
			pthread_join(t, NULL);
	}
	return NULL;
}

struct gens {
	volatile uint64_t *base;
	uint64_t words;
	unsigned long pause_us;
	volatile uint64_t done;		/* generations finished */
};

static struct gens gens_w;

static void *gen_writer(void *arg)
{
	struct gens *w = arg;

	for (uint64_t g = 2;; g++) {
		for (uint64_t i = 0; i < w->words; i++) {
			w->base[i] = g << 32 | i;
			if (w->pause_us && (i & (64 * 512 - 1)) == 64 * 512 - 1)
				usleep((useconds_t)w->pause_us);
		}
		w->done = g;
	}
	return NULL;
}

static volatile sig_atomic_t signals_seen;

static void count_signal(int sig)
{
	(void)sig;
	signals_seen++;
}

static int count_signals(void)
{
	static const int sigs[] = { SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM, SIGURG,
				    SIGWINCH, SIGIO, SIGPIPE, SIGHUP, SIGCONT };
	struct sigaction sa = { .sa_handler = count_signal, .sa_flags = SA_RESTART };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -1;
	return 0;
}

static int install_filter(int nr, uint32_t action)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/*
 * A filter that checks where a call comes from, not only which call it
 * is: mmap made from the [vdso] fails with EPERM, mmap from anywhere else
 * (this program's own, through libc) goes through.  pgclone runs its
 * syscalls from a syscall instruction in the vdso.
 */
static int install_ip_filter(void)
{
	unsigned long lo = 0, hi = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]"))
			sscanf(line, "%lx-%lx", &lo, &hi);
	if (f)
		fclose(f);
	if (!lo || (lo >> 32) != ((hi - 1) >> 32))
		return -1;
	struct sock_filter flt[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer) + 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(lo >> 32), 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)lo, 0, 2),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)hi, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(flt) / sizeof(flt[0]), .filter = flt };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static void *map_filled(uint64_t len, int flags, int fd, unsigned seed)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);

	if (p == MAP_FAILED)
		return NULL;
	fill(p, len, seed);
	return p;
}

static void answer_addr(void *p)
{
	if (p)
		printf("0x%lx\n", (unsigned long)p);
	else
		printf("err %s\n", strerror(errno));
}

static void command(char *line)
{
	char cmd[32], s1[256], s2[64], s3[64];
	unsigned long a = 0, b = 0, c = 0;
	int n = sscanf(line, "%31s %255s %63s %63s", cmd, s1, s2, s3);

	if (n >= 2)
		a = strtoul(s1, NULL, 0);
	if (n >= 3)
		b = strtoul(s2, NULL, 0);
	if (n >= 4)
		c = strtoul(s3, NULL, 0);

	if (!strcmp(cmd, "ping")) {
		puts("pong");
	} else if (!strcmp(cmd, "anon")) {
		answer_addr(map_filled(a, MAP_PRIVATE | MAP_ANONYMOUS, -1,
				       n >= 3 ? (unsigned)b : 1));
	} else if (!strcmp(cmd, "heap")) {
		/* grow [heap] by @a bytes: there is one even where malloc
		 * does not use brk (an ASan build) */
		void *p = sbrk((intptr_t)a);

		if (p == (void *)-1)
			p = NULL;
		if (p)
			fill(p, a, n >= 3 ? (unsigned)b : 1);
		answer_addr(p);
	} else if (!strcmp(cmd, "reserve")) {
		int noreserve = n >= 3 && !strcmp(s2, "noreserve") ? MAP_NORESERVE : 0;
		void *p = mmap(NULL, a, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | noreserve, -1, 0);

		answer_addr(p == MAP_FAILED ? NULL : p);
	} else if (!strcmp(cmd, "sparse")) {
		uint8_t *p = mmap(NULL, a, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p != MAP_FAILED)
			for (unsigned long off = 0; off < a; off += b)
				fill(p + off, 4096, (unsigned)(off / 4096));
		answer_addr(p == MAP_FAILED ? NULL : p);
	} else if (!strcmp(cmd, "thp")) {
		uint64_t huge = 2UL << 20;
		uint8_t *raw = mmap(NULL, a + huge, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint8_t *p = (uint8_t *)(((uintptr_t)raw + huge - 1) & ~(huge - 1));

		if (raw == MAP_FAILED) {
			answer_addr(NULL);
			return;
		}
		if (p > raw)
			munmap(raw, (size_t)(p - raw));
		munmap(p + a, (size_t)(raw + huge - p));
		madvise(p, a, MADV_HUGEPAGE);
		fill(p, a, 7);
		answer_addr(p);
	} else if (!strcmp(cmd, "shared")) {
		answer_addr(map_filled(a, MAP_SHARED | MAP_ANONYMOUS, -1, 2));
	} else if (!strcmp(cmd, "memfd")) {
		int fd = (int)syscall(SYS_memfd_create, "victim", 0);

		if (fd < 0 || ftruncate(fd, (off_t)a)) {
			answer_addr(NULL);
			return;
		}
		answer_addr(map_filled(a, MAP_SHARED, fd, 3));
		close(fd);
	} else if (!strcmp(cmd, "sysv")) {
		int id = shmget(IPC_PRIVATE, a, IPC_CREAT | 0600);
		uint8_t *p = id < 0 ? NULL : shmat(id, NULL, 0);

		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
		if (p == (void *)-1)
			p = NULL;
		if (p)
			fill(p, a, 4);
		answer_addr(p);
	} else if (!strcmp(cmd, "file")) {
		int shared = !strcmp(s3, "shared");
		int fd = open(s1, shared ? O_RDWR : O_RDONLY);
		void *p;

		if (fd < 0) {
			answer_addr(NULL);
			return;
		}
		p = mmap(NULL, b, PROT_READ | PROT_WRITE,
			 shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
		close(fd);
		answer_addr(p == MAP_FAILED ? NULL : p);
	} else if (!strcmp(cmd, "fill")) {
		fill((uint8_t *)a, b, (unsigned)c);
		puts("ok");
	} else if (!strcmp(cmd, "poke")) {
		*(volatile uint8_t *)a = (uint8_t)b;
		puts("ok");
	} else if (!strcmp(cmd, "peek")) {
		printf("%u\n", *(volatile uint8_t *)a);
	} else if (!strcmp(cmd, "sum")) {
		printf("%016llx\n", (unsigned long long)fnv((uint8_t *)a, b));
	} else if (!strcmp(cmd, "prot")) {
		puts(mprotect((void *)a, b, parse_prot(s3)) ? "err" : "ok");
	} else if (!strcmp(cmd, "stripes")) {
		int bad = 0;

		for (unsigned long off = 4096; !bad && off < b; off += 2 * 4096)
			bad = mprotect((void *)(a + off), 4096, parse_prot(s3));
		puts(bad ? "err" : "ok");
	} else if (!strcmp(cmd, "name")) {
		puts(prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, a, b, s3) ? "err" : "ok");
	} else if (!strcmp(cmd, "advise")) {
		int adv = !strcmp(s3, "hugepage") ? MADV_HUGEPAGE :
			  !strcmp(s3, "nohugepage") ? MADV_NOHUGEPAGE :
			  !strcmp(s3, "dontdump") ? MADV_DONTDUMP :
			  !strcmp(s3, "dontfork") ? MADV_DONTFORK :
			  !strcmp(s3, "wipeonfork") ? MADV_WIPEONFORK :
			  !strcmp(s3, "random") ? MADV_RANDOM :
			  !strcmp(s3, "dontneed") ? MADV_DONTNEED : -1;
		puts(adv < 0 || madvise((void *)a, b, adv) ? "err" : "ok");
	} else if (!strcmp(cmd, "userfaultfd")) {
		/* a userfaultfd of its own (user-mode faults only): its number */
		long fd = syscall(SYS_userfaultfd, O_CLOEXEC | 1);

		printf(fd < 0 ? "err %ld\n" : "%ld\n", fd < 0 ? (long)errno : fd);
	} else if (!strcmp(cmd, "fork")) {
		/* a child that only waits to be killed: its pid */
		pid_t child = fork();

		if (!child) {
			for (;;)
				pause();
		}
		printf(child < 0 ? "err\n" : "%d\n", (int)child);
	} else if (!strcmp(cmd, "close")) {
		puts(close((int)a) ? "err" : "ok");
	} else if (!strcmp(cmd, "mremap")) {
		/* move [a, a + b) to a fresh place: its new address */
		void *q = mmap(NULL, b, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (q != MAP_FAILED)
			q = mremap((void *)a, b, b, MREMAP_MAYMOVE | MREMAP_FIXED, q);
		answer_addr(q == MAP_FAILED ? NULL : q);
	} else if (!strcmp(cmd, "unmap")) {
		puts(munmap((void *)a, b) ? "err" : "ok");
	} else if (!strcmp(cmd, "seal")) {
		/* mseal is 462 on every architecture (6.10+) */
		if (syscall(462, a, b, 0))
			printf("err %d\n", errno);
		else
			puts("ok");
	} else if (!strcmp(cmd, "threads")) {
		if (wake_pipe[0] < 0 && pipe(wake_pipe)) {
			puts("err");
			return;
		}
		for (unsigned long i = 0; i < a; i++) {
			pthread_t t;

			if (pthread_create(&t, NULL, reader, NULL)) {
				puts("err");
				return;
			}
			pthread_detach(t);
			nthreads++;
		}
		usleep(100000);	/* let them block in read() */
		puts("ok");
	} else if (!strcmp(cmd, "wake")) {
		for (int i = 0; i < nthreads; i++)
			if (write(wake_pipe[1], "x", 1) != 1)
				break;
		for (int i = 0; i < 100; i++) {
			pthread_mutex_lock(&lock);
			n = reads_ok + reads_bad;
			pthread_mutex_unlock(&lock);
			if (n >= nthreads)
				break;
			usleep(10000);
		}
		if (reads_bad || reads_ok != nthreads)
			printf("bad ok=%d bad=%d of %d\n", reads_ok, reads_bad, nthreads);
		else
			printf("ok %d\n", reads_ok);
	} else if (!strcmp(cmd, "scribble")) {
		static struct sweep sw;
		pthread_t t;

		sw.base = (volatile uint64_t *)a;
		sw.pages = b / 4096;
		puts(pthread_create(&t, NULL, scribbler, &sw) ? "err" : "ok");
	} else if (!strcmp(cmd, "rewrite")) {	/* rewrite ADDR LEN RATE */
		static struct rewrite rw;
		pthread_t t;

		rw.base = (volatile uint64_t *)a;
		rw.len = b;
		rw.rate = strtoull(s3, NULL, 0);
		puts(rw.len < 4096 || rw.rate < 400 * 1024 ||
		     pthread_create(&t, NULL, rewriter, &rw) ? "err" : "ok");
	} else if (!strcmp(cmd, "churn")) {
		for (unsigned long i = 0; i < a; i++) {
			pthread_t t;

			if (pthread_create(&t, NULL, churner, NULL)) {
				puts("err");
				return;
			}
			pthread_detach(t);
		}
		puts("ok");
	} else if (!strcmp(cmd, "rseq")) {
		if (__rseq_size)
			printf("0x%lx\n", (unsigned long)((char *)__builtin_thread_pointer() +
							 __rseq_offset));
		else
			puts("none");
	} else if (!strcmp(cmd, "areas")) {
		struct thread_areas t = { 0 };

		if (!strcmp(s1, "main")) {
			note_areas(&t);
		} else {
			pthread_mutex_lock(&lock);
			if ((int)a < nareas)
				t = areas[a];
			pthread_mutex_unlock(&lock);
		}
		if (t.tid)
			printf("%ld 0x%lx 0x%lx 0x%lx 0x%lx\n", t.tid, t.tls, t.rseq,
			       t.robust, t.sp);
		else
			puts("err no such thread");
	} else if (!strcmp(cmd, "undumpable")) {
		puts(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) ? "err" : "ok");
	} else if (!strcmp(cmd, "seccomp-kill-mmap")) {
		puts(install_filter(SYS_mmap, SECCOMP_RET_KILL_PROCESS) ? "err" : "ok");
	} else if (!strcmp(cmd, "seccomp-ip-vdso-mmap")) {
		puts(install_ip_filter() ? "err" : "ok");
	} else if (!strcmp(cmd, "seccomp-kill-clone")) {
		puts(install_filter(SYS_clone, SECCOMP_RET_KILL_PROCESS) ? "err" : "ok");
	} else if (!strcmp(cmd, "gens")) {
		struct gens *wp = &gens_w;
		pthread_t t;

		wp->base = (volatile uint64_t *)a;
		wp->words = b / 8;
		wp->pause_us = c;
		for (uint64_t i = 0; i < wp->words; i++)
			wp->base[i] = 1ULL << 32 | i;
		wp->done = 1;
		puts(pthread_create(&t, NULL, gen_writer, wp) ? "err" : "ok");
	} else if (!strcmp(cmd, "gen")) {
		printf("%llu\n", (unsigned long long)gens_w.done);
	} else if (!strcmp(cmd, "count-signals")) {
		puts(count_signals() ? "err" : "ok");
	} else if (!strcmp(cmd, "signals")) {
		printf("%d\n", (int)signals_seen);
	} else if (!strcmp(cmd, "catch-sigtrap")) {
		struct sigaction sa = { .sa_handler = on_sigtrap,
					 .sa_flags = SA_RESTART };

		puts(sigaction(SIGTRAP, &sa, NULL) ? "err" : "ok");
	} else if (!strcmp(cmd, "sigtraps")) {
		printf("%d\n", (int)sigtraps);
	} else if (!strcmp(cmd, "seccomp-errno-pvr")) {
		puts(install_filter(SYS_process_vm_readv,
				    SECCOMP_RET_ERRNO | EPERM) ? "err" : "ok");
	} else {
		printf("err unknown command %s\n", cmd);
	}
}

/*
 * "pgclone-victim --burn-pids N": fork short-lived children until the
 * next free PID after the last one is N, so that the next process started
 * is likely to get N.  The
 * tests give a new process an old PID this way where they cannot write
 * /proc/sys/kernel/ns_last_pid (a kernel without CONFIG_PID_NS, like the
 * guest's).  Exits 0 once there, 1 if it went past.
 */
/* Is every PID strictly between @from and @to in use? */
static bool all_taken(pid_t from, pid_t to)
{
	for (pid_t p = from + 1; p < to; p++)
		if (kill(p, 0) && errno == ESRCH)
			return false;
	return true;
}

static int burn_pids(pid_t want)
{
	if (getpid() < want && all_taken(getpid(), want))
		return 0;
	for (long i = 0; i < 4 * 1024 * 1024; i++) {
		pid_t c = vfork();	/* no page tables to copy: fast */

		if (c < 0)
			return 1;
		if (!c)
			_exit(0);
		waitpid(c, NULL, 0);
		/* the next PID handed out is the first free one after c */
		if (c < want && all_taken(c, want))
			return 0;
		if (c == want)
			return 1;	/* went past it: N - 1 is someone's */
	}
	return 1;
}

int main(int argc, char **argv)
{
	char line[512];

	if (argc == 3 && !strcmp(argv[1], "--burn-pids"))
		return burn_pids((pid_t)atoi(argv[2]));

	setvbuf(stdout, NULL, _IOLBF, 0);
	puts("ready");
	while (fgets(line, sizeof(line), stdin))
		command(line);
	return 0;
}
