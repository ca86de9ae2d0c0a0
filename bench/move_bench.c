// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * move_bench - the guest benchmark of PVM_MMAP_MOVE, run by
 * `kernel/bench.sh move` inside the patched guest (not a test).
 *
 * One range of touched private anonymous memory (4 KiB pages, then THP)
 * is handed from a process to this one by each way there is, side by
 * side, interleaved, in one boot:
 *   pvm_move     process_vm_mmap(PVM_MMAP_MOVE) from another process, to
 *                the same offset within a huge page (page tables move
 *                whole)
 *   pvm_move_misaligned
 *                the same, five pages off (entries move one by one)
 *   uffdio_move  UFFDIO_MOVE of the same range within this process
 *   uffdio_move_misaligned
 *                the same, five pages off
 *   mremap       mremap() of the same range within this process
 *   pvm_copy     process_vm_mmap() without MOVE (copy-on-write share)
 *   fork         fork() of a process holding the range
 *   memfd        the range in a memfd the other process mapped from the
 *                start: pidfd_getfd() + mmap() here
 *   vmsplice     the other process vmsplice()s the range into a pipe,
 *                this one read()s it into its own memory
 * For each: the time of the hand-over itself, then the time and the
 * minor faults of writing every page of what this process got (a move
 * should leave nothing to fault).  Every round maps and fills a fresh
 * source, so that no fork() shares its pages.
 *
 *   move_bench [MIB] [ROUNDS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/process_vm_mmap.h"

#include "median.h"

/* UFFDIO_MOVE (Linux 6.8) is newer than Debian 12's headers */
#ifndef UFFDIO_MOVE
#define UFFD_FEATURE_MOVE	(1 << 16)
struct uffdio_move {
	uint64_t dst;
	uint64_t src;
	uint64_t len;
	uint64_t mode;
	int64_t move;
};
#define UFFDIO_MOVE		_IOWR(UFFDIO, 0x05, struct uffdio_move)
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd		438
#endif

#ifndef TRACE
#define TRACE 0
#endif
#define MIB (1UL << 20)
#define PMD (2 * MIB)
#define SRC 0x300000000000UL	/* where every source range lives */
#define DST 0x400000000000UL	/* where this process gets it */

enum method {
	PVM_MOVE, PVM_MOVE_MISALIGNED, UFFDIO_MOVE_M, UFFDIO_MOVE_MISALIGNED, MREMAP,
	PVM_COPY, FORK, MEMFD, VMSPLICE, NR_METHODS
};
static const char *const method_name[NR_METHODS] = {
	"pvm_move", "pvm_move_misaligned", "uffdio_move", "uffdio_move_misaligned", "mremap",
	"pvm_copy", "fork", "memfd", "vmsplice",
};

struct sample {
	double call_ms, write_ms;
	long faults;
};

static unsigned long len;
static int thp;
static unsigned long dst = DST;	/* where this process gets the range */

static void die(const char *what)
{
	fprintf(stderr, "move_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long minflt(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_minflt;
}

/* A private anonymous range at @at, filled, or a memfd's if @fd >= 0 */
static void map_range(unsigned long at, int fd, int fill)
{
	void *p = mmap((void *)at, len, PROT_READ | PROT_WRITE,
		       (fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS) |
		       MAP_FIXED_NOREPLACE, fd, 0);

	if (p != (void *)at)
		die("mmap");
	madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (fill)
		for (unsigned long o = 0; o < len; o += 4096)
			((volatile char *)p)[o] = (char)(o >> 12);
}

/* Write every page of what this process got: time and minor faults */
static void write_all(struct sample *s)
{
	long f0 = minflt();
	double t0 = now_ms();

	for (unsigned long o = 0; o < len; o += 4096)
		((volatile char *)dst)[o] = 1;
	s->write_ms = now_ms() - t0;
	s->faults = minflt() - f0;
	if (munmap((void *)dst, len))
		die("munmap");
}

/*
 * Another process holding the range (a memfd's if @memfd), filled after
 * its fork so that it alone maps its pages.  With @pipe_w it vmsplice()s
 * the range into that pipe once this process writes a byte to @go.
 */
struct holder {
	pid_t pid;
	int pidfd, memfd, go;
};

static struct holder holder_start(int memfd, int pipe_w)
{
	int ready[2], go[2];
	struct holder h = { .memfd = -1 };
	char c;

	if (pipe(ready) || pipe(go))
		die("pipe");
	if (memfd) {
		h.memfd = memfd_create("move_bench", 0);
		if (h.memfd < 0 || ftruncate(h.memfd, len))
			die("memfd");
	}
	h.pid = fork();
	if (h.pid < 0)
		die("fork");
	if (h.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		map_range(SRC, h.memfd, 1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		if (read(go[0], &c, 1) == 1 && pipe_w >= 0) {
			for (unsigned long o = 0; o < len;) {
				struct iovec v = { (void *)(SRC + o), len - o };
				ssize_t n = vmsplice(pipe_w, &v, 1, SPLICE_F_GIFT);

				if (n <= 0)
					_exit(1);
				o += n;
			}
		}
		pause();
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &c, 1) != 1)
		die("holder");
	close(ready[0]);
	h.go = go[1];
	h.pidfd = syscall(SYS_pidfd_open, h.pid, 0);
	if (h.pidfd < 0)
		die("pidfd_open");
	return h;
}

static void holder_stop(struct holder *h)
{
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	close(h->pidfd);
	close(h->go);
	if (h->memfd >= 0)
		close(h->memfd);
}

static void run_pvm(struct sample *s, unsigned int flags, unsigned long off)
{
	struct holder h = holder_start(0, -1);
	int self = syscall(SYS_pidfd_open, getpid(), 0);
	double t0;
	long r;

	dst = DST + off;
	t0 = now_ms();
	r = syscall(__NR_process_vm_mmap, h.pidfd, SRC, len, self, dst, flags);
	s->call_ms = now_ms() - t0;
	if (r != (long)dst)
		die("process_vm_mmap");
	write_all(s);
	dst = DST;
	close(self);
	holder_stop(&h);
}

static void run_uffdio_move(struct sample *s, unsigned long off)
{
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
	struct uffdio_register reg = {
		.range = { .start = DST + off, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct uffdio_move mv = { .dst = DST + off, .src = SRC, .len = len };
	double t0;

	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		die("userfaultfd");
	map_range(SRC, -1, 1);
	map_range(DST + off, -1, 0);
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER");
	t0 = now_ms();
	while (mv.len) {
		mv.move = 0;
		if (ioctl(uffd, UFFDIO_MOVE, &mv) && errno != EAGAIN)
			die("UFFDIO_MOVE");
		if (mv.move <= 0)
			die("UFFDIO_MOVE made no progress");
		mv.dst += mv.move;
		mv.src += mv.move;
		mv.len -= mv.move;
	}
	s->call_ms = now_ms() - t0;
	close(uffd);	/* the destination writes without a uffd */
	dst = DST + off;
	write_all(s);
	dst = DST;
	munmap((void *)SRC, len);
}

static void run_mremap(struct sample *s)
{
	double t0;

	map_range(SRC, -1, 1);
	t0 = now_ms();
	if (mremap((void *)SRC, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
		   (void *)DST) != (void *)DST)
		die("mremap");
	s->call_ms = now_ms() - t0;
	write_all(s);
}

static void run_fork(struct sample *s)
{
	double t0;
	pid_t pid;

	map_range(DST, -1, 1);
	t0 = now_ms();
	pid = fork();
	if (pid == 0)
		_exit(0);
	s->call_ms = now_ms() - t0;
	waitpid(pid, NULL, 0);
	write_all(s);
}

static void run_memfd(struct sample *s)
{
	struct holder h = holder_start(1, -1);
	double t0 = now_ms();
	int fd = syscall(SYS_pidfd_getfd, h.pidfd, h.memfd, 0);

	if (fd < 0)
		die("pidfd_getfd");
	map_range(DST, fd, 0);
	s->call_ms = now_ms() - t0;
	close(fd);
	write_all(s);
	holder_stop(&h);
}

static void run_vmsplice(struct sample *s)
{
	int p[2];
	struct holder h;
	double t0;

	if (pipe(p))
		die("pipe");
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	h = holder_start(0, p[1]);
	close(p[1]);
	map_range(DST, -1, 0);
	t0 = now_ms();
	if (write(h.go, "g", 1) != 1)
		die("go");
	for (unsigned long o = 0; o < len;) {
		ssize_t n = read(p[0], (char *)DST + o, len - o);

		if (n <= 0)
			die("read");
		o += n;
	}
	s->call_ms = now_ms() - t0;
	close(p[0]);
	write_all(s);
	holder_stop(&h);
}

static void run(enum method m, struct sample *s)
{
	if (TRACE || getenv("MOVE_BENCH_TRACE"))
		fprintf(stderr, "move_bench: %s...\n", method_name[m]);
	switch (m) {
	case PVM_MOVE: run_pvm(s, PVM_MMAP_MOVE, 0); break;
	case PVM_MOVE_MISALIGNED: run_pvm(s, PVM_MMAP_MOVE, 5 * 4096); break;
	case UFFDIO_MOVE_M: run_uffdio_move(s, 0); break;
	case UFFDIO_MOVE_MISALIGNED: run_uffdio_move(s, 5 * 4096); break;
	case MREMAP: run_mremap(s); break;
	case PVM_COPY: run_pvm(s, 0, 0); break;
	case FORK: run_fork(s); break;
	case MEMFD: run_memfd(s); break;
	case VMSPLICE: run_vmsplice(s); break;
	default: break;
	}
}

static void bench(const char *mode, int rounds)
{
	static struct sample s[NR_METHODS][16];
	double call[NR_METHODS], v[16];

	thp = !strcmp(mode, "thp");
	for (int m = 0; m < NR_METHODS; m++)	/* warm-up */
		run(m, &s[m][0]);
	for (int i = 0; i < rounds; i++) {
		for (int m = 0; m < NR_METHODS; m++) {
			run(m, &s[m][i]);
			/* a line each: a slow guest shows it is moving */
			fprintf(stderr, "move_bench: %s round %d %s\n", mode,
				i + 1, method_name[m]);
		}
	}
	for (int m = 0; m < NR_METHODS; m++) {
		double w;
		long faults = 0;

		for (int i = 0; i < rounds; i++)
			v[i] = s[m][i].call_ms;
		call[m] = median(v, rounds);
		for (int i = 0; i < rounds; i++) {
			v[i] = s[m][i].write_ms;
			faults = s[m][i].faults > faults ? s[m][i].faults : faults;
		}
		w = median(v, rounds);
		printf("BENCH-MOVE mode=%s size_mib=%lu rounds=%d method=%s call_ms=%.2f "
		       "write_ms=%.2f write_faults=%ld\n", mode, len / MIB, rounds,
		       method_name[m], call[m], w, faults);
	}
	printf("BENCH-MOVE mode=%s pvm_move_over_uffdio_move=%.2f "
	       "pvm_move_misaligned_over_uffdio_move_misaligned=%.2f pvm_move_over_mremap=%.2f "
	       "pvm_move_over_fork=%.2f\n", mode, call[PVM_MOVE] / call[UFFDIO_MOVE_M],
	       call[PVM_MOVE_MISALIGNED] / call[UFFDIO_MOVE_MISALIGNED],
	       call[PVM_MOVE] / call[MREMAP], call[PVM_MOVE] / call[FORK]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;

	if (syscall(__NR_process_vm_mmap, -1, 0UL, 0UL, -1, 0UL, ~0U) != -1 ||
	    errno != EINVAL) {
		fprintf(stderr, "move_bench: this kernel has no process_vm_mmap\n");
		return 1;
	}
	if (rounds < 1 || rounds > 16)
		rounds = 3;
	len = mib * MIB;
	bench("4k", rounds);
	bench("thp", rounds);
	return 0;
}
