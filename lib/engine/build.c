// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * build.c - create the destination mappings in the target, and undo them.
 *
 * Everything this file does to the target is a syscall run in it, and
 * each one that succeeds is recorded so that pgc_build_rollback() leaves
 * /proc/PID/maps and the contents exactly as they were.  --replace moves
 * the overlapped mappings aside with mremap (page tables move, contents
 * stay) rather than unmapping them, so they can be moved back.
 */
#include <linux/mman.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

/*
 * Why a mapping at @addr failed with @err: a bare EPERM from mmap or
 * mremap at a low address is the kernel's vm.mmap_min_addr, which only a
 * process holding CAP_SYS_RAWIO may map below.  Name it.
 */
static const char *why_not_at(long err, uint64_t addr, char *buf, size_t len)
{
	unsigned long long min = 0;
	FILE *f;

	if (err != -EPERM)
		return strerror((int)-err);
	f = fopen("/proc/sys/vm/mmap_min_addr", "re");
	if (f) {
		if (fscanf(f, "%llu", &min) != 1)
			min = 0;
		fclose(f);
	}
	if (addr >= min)
		return strerror(EPERM);
	snprintf(buf, len, "0x%llx is below vm.mmap_min_addr (%llu), which only a process with CAP_SYS_RAWIO may map",
		 (unsigned long long)addr, min);
	return buf;
}

static int rsys(struct pgc_build *b, long *ret, long nr, uint64_t a0,
		uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return pgc_remote_syscall(b->rem, ret, nr, a0, a1, a2, a3, a4, a5);
}

/* The error range of a syscall's return value. */
static bool failed(long ret)
{
	return ret < 0 && ret > -4096;
}

/* Many syscalls per ptrace stop (inject/batch.c). */
static int rbatch(struct pgc_build *b, struct pgc_rop *ops, size_t n,
		  size_t *ran)
{
	return pgc_remote_batch(b->rem, ops, n, ran);
}

static struct pgc_rop rop(long nr, uint64_t a0, uint64_t a1, uint64_t a2,
			  uint64_t a3, uint64_t a4, bool may_fail)
{
	return (struct pgc_rop){ .nr = nr, .a = { a0, a1, a2, a3, a4, 0 },
				 .may_fail = may_fail };
}

static int rmunmap(struct pgc_build *b, uint64_t addr, uint64_t len)
{
	long ret;
	int err = rsys(b, &ret, SYS_munmap, addr, len, 0, 0, 0, 0);

	return err ? err : (int)ret;
}

int pgc_target_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };

	ssize_t n = pgc_vm_writev(pid, &local, 1, &remote, 1);

	if (n == (ssize_t)len)
		return 0;
	return n < 0 ? -errno : -EIO;
}

/* Total bytes of all ranges: the size of the set-aside reservation. */
static uint64_t plan_bytes(const struct pgc_plan *plan)
{
	uint64_t n = 0;

	for (size_t i = 0; i < plan->n; i++)
		n += plan->r[i].map.end - plan->r[i].map.start;
	return n;
}

/* The pieces of @dst_maps in [dst, dst + len), to go to @tmp_base on. */
static size_t window_pieces(const struct pgc_vma_list *dst_maps, uint64_t dst,
			    uint64_t len, uint64_t tmp_base, struct pgc_saved *sv)
{
	size_t n = 0;

	for (size_t i = 0; i < dst_maps->n; i++) {
		const struct pgclone_mapping *m = &dst_maps->v[i].m;
		uint64_t s = m->start > dst ? m->start : dst;
		uint64_t e = m->end < dst + len ? m->end : dst + len;

		if (s >= e)
			continue;
		sv[n].addr = s;
		sv[n].len = e - s;
		sv[n].tmp = tmp_base + (s - dst);
		n++;
	}
	return n;
}

static int set_aside(struct pgc_build *b, const struct pgc_vma_list *dst_maps)
{
	const struct pgc_plan *plan = b->plan;
	uint64_t base = 0;
	long ret;
	int err;

	b->save_len = plan_bytes(plan);
	err = rsys(b, &ret, SYS_mmap, 0, b->save_len, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, (uint64_t)-1, 0);
	if (err)
		return err;
	if (ret < 0 && ret > -4096)
		return pgc_fail((int)ret, "cannot reserve room in PID %d to set the replaced mappings aside",
				(int)plan->dst_pid);
	b->save_area = (uint64_t)ret;

	/* each mapping can be cut in two by a window: at most n + 2 pieces */
	size_t max = dst_maps->n + 2 * plan->n + 1, npieces = 0, ran;
	struct pgc_rop *ops;

	b->saved = calloc(max, sizeof(*b->saved));
	ops = calloc(max, sizeof(*ops));
	if (!b->saved || !ops) {
		free(ops);
		return -ENOMEM;
	}
	for (size_t i = 0; i < plan->n; i++) {
		uint64_t len = plan->r[i].map.end - plan->r[i].map.start;

		npieces += window_pieces(dst_maps, plan->r[i].dst, len,
					 b->save_area + base, b->saved + npieces);
		base += len;
	}
	for (size_t k = 0; k < npieces; k++) {
		const struct pgc_saved *sv = &b->saved[k];

		ops[k] = rop(SYS_mremap, sv->addr, sv->len, sv->len,
			     MREMAP_MAYMOVE | MREMAP_FIXED, sv->tmp, false);
	}
	err = rbatch(b, ops, npieces, &ran);
	/* what moved is what the rollback moves back */
	for (size_t k = 0; k < ran && (uint64_t)ops[k].ret == b->saved[k].tmp; k++)
		b->nsaved++;
	if (!err && b->nsaved < npieces) {
		const struct pgc_saved *sv = &b->saved[b->nsaved];
		long got = ops[b->nsaved].ret;

		err = pgc_fail(got < 0 ? (int)got : -EIO,
			       "cannot set 0x%llx-0x%llx of PID %d aside: %s",
			       (unsigned long long)sv->addr,
			       (unsigned long long)(sv->addr + sv->len),
			       (int)plan->dst_pid, strerror((int)-got));
	}
	free(ops);
	return err;
}

/*
 * The protection a range is built with: writable for the copy, unless
 * shared (its contents are the object's); the final one comes last.
 */
static uint64_t build_prot(const struct pgclone_range *r)
{
	if (r->map.kind != PGCLONE_KIND_ANON_PRIVATE && r->map.shared)
		return r->map.prot;
	return r->map.prot | PROT_READ | PROT_WRITE;
}

/*
 * The mmap of range @i at @want (inside our own reservation when staged,
 * which MAP_FIXED replaces), for a descriptor @fd in the target or -1.
 */
static struct pgc_rop map_op(const struct pgc_build *b, size_t i, uint64_t want,
			     int fd)
{
	const struct pgclone_range *r = &b->plan->r[i];
	const struct pgc_vma *v = b->plan->src_vma ? b->plan->src_vma[i] : NULL;
	uint64_t flags = b->staged ? MAP_FIXED : MAP_FIXED_NOREPLACE;

	if (v && (v->vmflags & VMF_NORESERVE))
		flags |= MAP_NORESERVE;
	if (r->map.kind == PGCLONE_KIND_ANON_PRIVATE)
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
	else
		flags |= r->map.shared ? MAP_SHARED : MAP_PRIVATE;
	return rop(SYS_mmap, want, r->map.end - r->map.start, build_prot(r), flags,
		   (uint64_t)fd, false);
}

/* Range @i's mmap at @want returned @addr: record it, or say why not. */
static int mapped_at(struct pgc_build *b, size_t i, uint64_t want, long addr)
{
	const struct pgclone_range *r = &b->plan->r[i];
	uint64_t len = r->map.end - r->map.start;
	char why[160];

	if (addr < 0 && addr > -4096) {
		if (addr == -EEXIST)
			return pgc_fail(-EEXIST, "0x%llx-0x%llx in PID %d was taken while pgclone worked",
					(unsigned long long)r->dst,
					(unsigned long long)(r->dst + len),
					(int)b->plan->dst_pid);
		return pgc_fail(addr == -ENOMEM ? -ENOMEM : (int)addr,
				"mmap of 0x%llx-0x%llx in PID %d failed: %s",
				(unsigned long long)r->dst,
				(unsigned long long)(r->dst + len),
				(int)b->plan->dst_pid,
				why_not_at(addr, want, why, sizeof(why)));
	}
	if ((uint64_t)addr != want) {
		/* a kernel older than 4.17 took NOREPLACE as a hint */
		rmunmap(b, (uint64_t)addr, len);
		return pgc_fail(-EEXIST, "PID %d could not map 0x%llx exactly",
				(int)b->plan->dst_pid, (unsigned long long)want);
	}
	b->at[i] = (uint64_t)addr;
	b->mapped[i] = true;
	return 0;
}

/* A range backed by an object: hand the target a descriptor first. */
static int map_object_range(struct pgc_build *b, size_t i, uint64_t want)
{
	const struct pgc_vma *v = b->plan->src_vma ? b->plan->src_vma[i] : NULL;
	struct pgc_rop op;
	long addr, dummy;
	int fd, err;

	fd = b->get_fd ? b->get_fd(b, i) :
			 pgc_fd_to_target(b->rem, b->plan->src_pid, v);
	if (fd < 0)
		return fd;
	op = map_op(b, i, want, fd);
	op.a[5] = b->plan->r[i].map.offset;
	err = rsys(b, &addr, op.nr, op.a[0], op.a[1], op.a[2], op.a[3], op.a[4],
		   op.a[5]);
	if (rsys(b, &dummy, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0) && !err)
		err = -ESRCH;
	return err ? err : mapped_at(b, i, want, addr);
}

/* Anonymous ranges [@i, @end) at @want on: one batch. */
static int map_anon_ranges(struct pgc_build *b, size_t i, size_t end,
			   uint64_t want)
{
	struct pgc_rop *ops = calloc(end - i, sizeof(*ops));
	uint64_t *at = calloc(end - i, sizeof(*at));
	size_t ran = 0;
	int err = -ENOMEM;

	if (ops && at) {
		for (size_t k = 0; k < end - i; k++) {
			const struct pgclone_range *r = &b->plan->r[i + k];

			at[k] = want;
			ops[k] = map_op(b, i + k, want, -1);
			want += r->map.end - r->map.start;
		}
		err = rbatch(b, ops, end - i, &ran);
		/* every one that ran is recorded, so the undo covers it */
		for (size_t k = 0; k < ran; k++) {
			int e = mapped_at(b, i + k, at[k], ops[k].ret);

			if (!err)
				err = e;
		}
	}
	free(ops);
	free(at);
	return err;
}

static int map_all(struct pgc_build *b, size_t scratch_len);

static int build_init(struct pgc_build *b, struct pgc_remote *rem,
		      const struct pgc_plan *plan)
{
	memset(b, 0, sizeof(*b));
	b->rem = rem;
	b->plan = plan;
	b->mapped = calloc(plan->n, sizeof(*b->mapped));
	b->at = calloc(plan->n, sizeof(*b->at));
	if (b->mapped && b->at)
		return 0;
	free(b->mapped);
	free(b->at);
	b->mapped = NULL;
	b->at = NULL;
	return -ENOMEM;
}

/* Roll back after @err inside this file; a failed rollback wins. */
static int undo(struct pgc_build *b, int err)
{
	pid_t pid = b->plan->dst_pid;
	int lost = pgc_build_rollback(b);

	return lost ? pgc_rollback_failed(pid, lost) : err;
}

#define PUD_BYTES (1ULL << 30)	/* what one PUD entry maps (x86-64, arm64 4K) */

static bool hits_destination(const struct pgc_plan *plan, uint64_t a,
			     uint64_t len)
{
	for (size_t i = 0; i < plan->n; i++) {
		uint64_t d = plan->r[i].dst, n = plan->r[i].map.end - plan->r[i].map.start;

		if (a < d + n && d < a + len)
			return true;
	}
	return false;
}

/*
 * A PROT_NONE reservation of @len bytes at the same offset as @like within
 * a huge page, so that what is built there can have huge pages and keeps
 * them when it is moved into place; and, when it spans one, within a
 * gigabyte: mremap() then moves the page tables a PUD entry at a time.
 * Moving a 1 TiB sparse reservation took 25-30 ms otherwise (it steps
 * through every 2 MiB of it), and 3 ms so.  The extra address space is
 * reserved, never committed; where there is not that much of it, the
 * huge-page alignment alone does.
 */
static int reserve_like(struct pgc_build *b, uint64_t like, uint64_t len,
			long *addr)
{
	uint64_t align = len >= PUD_BYTES ? PUD_BYTES : PGC_HPAGE_SIZE;
	uint64_t want, at;
	int err;

	for (;;) {
		want = len + align;
		err = rsys(b, addr, SYS_mmap, 0, want, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			   (uint64_t)-1, 0);
		if (err || *addr != -ENOMEM || align == PGC_HPAGE_SIZE)
			break;
		align = PGC_HPAGE_SIZE;
	}
	if (err || (*addr < 0 && *addr > -4096))
		return err;
	at = (uint64_t)*addr + ((like - (uint64_t)*addr) & (align - 1));
	if (at > (uint64_t)*addr)
		err = rmunmap(b, (uint64_t)*addr, at - (uint64_t)*addr);
	if (!err && (uint64_t)*addr + want > at + len)
		err = rmunmap(b, at + len, (uint64_t)*addr + want - (at + len));
	*addr = (long)at;
	return err < 0 ? err : 0;
}

static int reserve_aligned(struct pgc_build *b, long *addr)
{
	return reserve_like(b, b->plan->dst, b->stage_len + b->exec_len, addr);
}

int pgc_build_reserve_dst(struct pgc_remote *rem, struct pgc_plan *plan,
			  uint64_t *span)
{
	struct pgc_build b = { .rem = rem, .plan = plan };
	long addr;
	int err;

	*span = 0;
	err = reserve_like(&b, plan->src, plan->len, &addr);
	if (!err && addr < 0 && addr > -4096)
		err = pgc_fail(-ENOMEM, "no room in PID %d for 0x%llx bytes",
			       (int)plan->dst_pid, (unsigned long long)plan->len);
	if (err)
		return err;
	err = pgc_plan_set_dst(plan, (uint64_t)addr);
	if (err) {
		rmunmap(&b, (uint64_t)addr, plan->len);
		return err;
	}
	*span = plan->len;
	pr_info("--dst auto: PID %d offered 0x%llx", (int)plan->dst_pid,
		(unsigned long long)plan->dst);
	return 0;
}

void pgc_build_unreserve_dst(struct pgc_remote *rem, const struct pgc_plan *plan,
			     uint64_t span, bool committed)
{
	struct pgc_build b = { .rem = rem, .plan = plan };
	uint64_t at = plan->dst;

	if (!span)
		return;
	if (!committed) {
		rmunmap(&b, plan->dst, span);
		return;
	}
	/* the ranges replaced their part of it; what lies between them goes */
	for (size_t i = 0; i < plan->n; i++) {
		if (plan->r[i].dst > at)
			rmunmap(&b, at, plan->r[i].dst - at);
		at = plan->r[i].dst + (plan->r[i].map.end - plan->r[i].map.start);
	}
	if (plan->dst + span > at)
		rmunmap(&b, at, plan->dst + span - at);
}

/*
 * Reserve room for the staged ranges that overlaps none of their final
 * places (the kernel may well offer exactly the free destination).
 * Refused offers stay mapped until a good one is found, so the kernel
 * cannot offer them again.
 */
static int reserve_stage(struct pgc_build *b)
{
	uint64_t refused[8];
	size_t nref = 0;
	long addr;
	int err;

	b->stage_len = plan_bytes(b->plan);
	b->exec_len = pgc_remote_exec_span();
	for (;;) {
		err = reserve_aligned(b, &addr);
		if (!err && addr < 0 && addr > -4096)
			err = pgc_fail(-ENOMEM, "no room in PID %d to build 0x%llx bytes",
				       (int)b->plan->dst_pid,
				       (unsigned long long)b->stage_len);
		if (err)
			break;
		if (!hits_destination(b->plan, (uint64_t)addr,
				      b->stage_len + b->exec_len)) {
			b->stage_area = (uint64_t)addr;
			pr_debug("building aside at 0x%llx", (unsigned long long)addr);
			break;
		}
		if (nref == ARRAY_SIZE(refused)) {
			rmunmap(b, (uint64_t)addr, b->stage_len + b->exec_len);
			err = pgc_fail(-ENOMEM, "no room in PID %d away from the destination",
				       (int)b->plan->dst_pid);
			break;
		}
		refused[nref++] = (uint64_t)addr;
	}
	while (nref--)
		rmunmap(b, refused[nref], b->stage_len + b->exec_len);
	/* the executor lives past the ranges, away from the destination */
	if (!err)
		pgc_remote_exec_at(b->rem, b->stage_area + b->stage_len);
	return err;
}

int pgc_build_stage(struct pgc_build *b, struct pgc_remote *rem,
		    const struct pgc_plan *plan, pgc_build_fd_fn get_fd,
		    void *ctx, size_t scratch_len)
{
	int err = build_init(b, rem, plan);

	if (err)
		return err;
	b->staged = true;
	b->get_fd = get_fd;
	b->ctx = ctx;
	err = reserve_stage(b);
	if (err)
		return undo(b, err);
	return map_all(b, scratch_len);
}

int pgc_build_place(struct pgc_build *b, const struct pgc_vma_list *dst_maps,
		    bool replace)
{
	int err = replace ? set_aside(b, dst_maps) : 0;
	struct pgc_rop *ops;
	size_t ran = 0;
	char why[160];

	if (err)
		return err;
	ops = calloc(b->plan->n, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < b->plan->n; i++) {
		const struct pgclone_range *r = &b->plan->r[i];
		uint64_t len = r->map.end - r->map.start;

		ops[i] = rop(SYS_mremap, b->at[i], len, len,
			     MREMAP_MAYMOVE | MREMAP_FIXED, r->dst, false);
	}
	err = rbatch(b, ops, b->plan->n, &ran);
	/* where each one is now is where the rollback finds it */
	for (size_t i = 0; i < ran; i++) {
		const struct pgclone_range *r = &b->plan->r[i];
		uint64_t len = r->map.end - r->map.start;
		long ret = ops[i].ret;

		if ((uint64_t)ret == r->dst) {
			b->at[i] = r->dst;
			continue;
		}
		if (!err)
			err = pgc_fail(ret < 0 ? (int)ret : -EIO,
				       "cannot move 0x%llx-0x%llx into place in PID %d: %s",
				       (unsigned long long)r->dst,
				       (unsigned long long)(r->dst + len),
				       (int)b->plan->dst_pid,
				       ret < 0 ? why_not_at(ret, r->dst, why, sizeof(why)) :
						 "it landed elsewhere");
	}
	free(ops);
	return err;
}

static int map_all(struct pgc_build *b, size_t scratch_len)
{
	const struct pgc_plan *plan = b->plan;
	uint64_t want = b->stage_area;
	size_t i = 0;
	long addr;
	int err = 0;

	while (!err && i < plan->n) {
		size_t end = i;

		while (end < plan->n &&
		       plan->r[end].map.kind == PGCLONE_KIND_ANON_PRIVATE)
			end++;
		if (end > i) {
			err = map_anon_ranges(b, i, end, want);
		} else {
			err = map_object_range(b, i, want);
			end = i + 1;
		}
		for (; i < end; i++)
			want += plan->r[i].map.end - plan->r[i].map.start;
	}
	if (!err && scratch_len) {
		err = rsys(b, &addr, SYS_mmap, 0, scratch_len,
			   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   (uint64_t)-1, 0);
		if (!err && addr < 0 && addr > -4096)
			err = pgc_fail(-ENOMEM, "no room for a scratch page in PID %d",
				       (int)plan->dst_pid);
		if (!err) {
			b->scratch = (uint64_t)addr;
			b->scratch_len = scratch_len;
		}
	}
	return err ? undo(b, err) : 0;
}

static const struct {
	unsigned int adv;
	int madv;
} advice[] = {
	{ PGCLONE_ADV_HUGEPAGE, MADV_HUGEPAGE },
	{ PGCLONE_ADV_NOHUGEPAGE, MADV_NOHUGEPAGE },
	{ PGCLONE_ADV_DONTDUMP, MADV_DONTDUMP },
	{ PGCLONE_ADV_DONTFORK, MADV_DONTFORK },
	{ PGCLONE_ADV_WIPEONFORK, MADV_WIPEONFORK },
	{ PGCLONE_ADV_MERGEABLE, MADV_MERGEABLE },
	{ PGCLONE_ADV_SEQUENTIAL, MADV_SEQUENTIAL },
	{ PGCLONE_ADV_RANDOM, MADV_RANDOM },
};

/*
 * The ops of pgc_build_finish() and what each is for: a refused name or
 * advice is a warning (the clone is still right), a refused mprotect an
 * error.  Names are strings in the target's scratch area, written in one
 * go before the ops that read them.
 */
#define OP_NAME (-1)
#define OP_MPROTECT (-2)
struct finisher {
	struct pgc_build *b;
	struct pgc_rop *ops;
	size_t *range;		/* per op: its range */
	int *what;		/* per op: the madvise advice, or OP_* */
	size_t n, cap;
	char *names;		/* what goes to the scratch area */
	size_t names_len;
};

static void fin_add(struct finisher *f, size_t i, int what, struct pgc_rop op)
{
	f->ops[f->n] = op;
	f->range[f->n] = i;
	f->what[f->n] = what;
	f->n++;
}

static int fin_flush(struct finisher *f)
{
	struct pgc_build *b = f->b;
	size_t ran = 0;
	int err = 0;

	if (f->names_len)
		err = pgc_target_write(b->plan->dst_pid, b->scratch, f->names,
				       f->names_len);
	if (!err)
		err = rbatch(b, f->ops, f->n, &ran);
	for (size_t k = 0; k < ran; k++) {
		const struct pgclone_range *r = &b->plan->r[f->range[k]];
		long ret = f->ops[k].ret;

		if (!failed(ret))
			continue;
		if (f->what[k] == OP_MPROTECT)
			return pgc_fail(-EIO, "mprotect in PID %d failed: %s",
					(int)b->plan->dst_pid, strerror((int)-ret));
		if (f->what[k] == OP_NAME)
			pr_warn("cannot name 0x%llx in PID %d: %s",
				(unsigned long long)r->dst, (int)b->plan->dst_pid,
				strerror((int)-ret));
		else
			pr_warn("madvise(%d) of 0x%llx in PID %d failed: %s",
				f->what[k], (unsigned long long)r->dst,
				(int)b->plan->dst_pid, strerror((int)-ret));
	}
	f->n = 0;
	f->names_len = 0;
	return err;
}

/* The name the user set with PR_SET_VMA, for the scratch area, or 0. */
static size_t vma_name(const struct pgclone_range *r, char buf[82])
{
	const char *name = r->map.name;
	size_t len;

	/* only anonymous memory carries a name the user set with PR_SET_VMA */
	if (strncmp(name, "[anon:", 6) || r->map.kind != PGCLONE_KIND_ANON_PRIVATE)
		return 0;
	name += 6;
	len = strlen(name);
	if (!len || name[len - 1] != ']' || len > 81)
		return 0;
	memcpy(buf, name, len - 1);
	buf[len - 1] = '\0';
	return len;
}

/* Range @i's name, advice and final protection. */
static int fin_range(struct finisher *f, size_t i)
{
	struct pgc_build *b = f->b;
	const struct pgclone_range *r = &b->plan->r[i];
	uint64_t at = b->at[i], len = r->map.end - r->map.start;
	char name[82];
	size_t nlen = b->scratch ? vma_name(r, name) : 0;
	int err = 0;

	if (f->n + ARRAY_SIZE(advice) + 2 > f->cap ||
	    f->names_len + nlen > b->scratch_len)
		err = fin_flush(f);
	if (err)
		return err;
	if (nlen) {
		memcpy(f->names + f->names_len, name, nlen);
		fin_add(f, i, OP_NAME, rop(SYS_prctl, PR_SET_VMA,
					   PR_SET_VMA_ANON_NAME, at, len,
					   b->scratch + f->names_len, true));
		f->names_len += nlen;
	}
	/* what pgc_build_advise_all() gave every range is there already */
	for (size_t k = 0; k < ARRAY_SIZE(advice); k++)
		if (r->map.advice & advice[k].adv & ~b->advised)
			fin_add(f, i, advice[k].madv,
				rop(SYS_madvise, at, len, (uint64_t)advice[k].madv,
				    0, 0, true));
	/* nor is a range built with its final protection changed again */
	if (r->map.prot != build_prot(r))
		fin_add(f, i, OP_MPROTECT, rop(SYS_mprotect, at, len, r->map.prot,
					       0, 0, false));
	return 0;
}

#define FIN_OPS 4096	/* per batch: what the executor takes per stop */

int pgc_build_finish(struct pgc_build *b)
{
	struct finisher f = { .b = b, .cap = FIN_OPS };
	int err = -ENOMEM;

	f.ops = calloc(f.cap, sizeof(*f.ops));
	f.range = calloc(f.cap, sizeof(*f.range));
	f.what = calloc(f.cap, sizeof(*f.what));
	f.names = malloc(b->scratch_len ? b->scratch_len : 1);
	if (f.ops && f.range && f.what && f.names) {
		err = 0;
		for (size_t i = 0; !err && i < b->plan->n; i++)
			err = fin_range(&f, i);
		if (!err)
			err = fin_flush(&f);
	}
	free(f.ops);
	free(f.range);
	free(f.what);
	free(f.names);
	return err;
}

int pgc_build_advise(struct pgc_build *b, size_t i, int madv)
{
	const struct pgclone_range *r = &b->plan->r[i];
	long ret;
	int err = rsys(b, &ret, SYS_madvise, b->at[i], r->map.end - r->map.start,
		       (uint64_t)madv, 0, 0, 0);

	if (!err && ret)
		pr_warn("madvise(%d) of 0x%llx in PID %d failed: %s", madv,
			(unsigned long long)r->dst, (int)b->plan->dst_pid,
			strerror((int)-ret));
	return err;
}

int pgc_build_advise_all(struct pgc_build *b, unsigned int adv, int madv)
{
	struct pgc_rop *ops = calloc(b->plan->n, sizeof(*ops));
	size_t n = 0, ran;
	int err;

	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < b->plan->n; i++) {
		const struct pgclone_range *r = &b->plan->r[i];
		uint64_t len = r->map.end - r->map.start;

		if (!(r->map.advice & adv))
			continue;
		/*
		 * Ranges built side by side take one madvise: one per range
		 * split the staged mapping and merged it again 30,000 times
		 * for 30,000 one-page VMAs.
		 */
		if (n && ops[n - 1].a[0] + ops[n - 1].a[1] == b->at[i])
			ops[n - 1].a[1] += len;
		else
			ops[n++] = rop(SYS_madvise, b->at[i], len, (uint64_t)madv,
				       0, 0, true);
	}
	err = rbatch(b, ops, n, &ran);
	for (size_t k = 0; k < ran; k++)
		if (failed(ops[k].ret))
			pr_warn("madvise(%d) of 0x%llx in PID %d failed: %s", madv,
				(unsigned long long)ops[k].a[0], (int)b->plan->dst_pid,
				strerror((int)-ops[k].ret));
	/* all ran (none stops the batch): pgc_build_finish() need not again */
	if (!err && ran == n)
		b->advised |= adv;
	free(ops);
	return err;
}

int pgc_build_drop_scratch(struct pgc_build *b)
{
	int err;

	if (!b->scratch)
		return 0;
	err = rmunmap(b, b->scratch, b->scratch_len);
	if (err < 0)
		return err;
	b->scratch = 0;
	return 0;
}

void pgc_build_commit(struct pgc_build *b)
{
	/* the executor lives in the stage reservation's tail */
	pgc_remote_exec_drop(b->rem);
	if (b->stage_area)	/* emptied by place: this drops nothing of value */
		rmunmap(b, b->stage_area, b->stage_len + b->exec_len);
	if (b->save_area)
		rmunmap(b, b->save_area, b->save_len);
	free(b->saved);
	free(b->mapped);
	free(b->at);
	memset(b, 0, sizeof(*b));
}

/*
 * Undo in one batch: unmap what was created, then move each set-aside
 * piece back.  An unmap cannot fail in a way that matters (what is not
 * there is gone already), so none stops the batch; a piece that does not
 * go back is counted, the others still go.
 */
int pgc_build_rollback(struct pgc_build *b)
{
	struct pgc_rop *ops;
	size_t n = 0, ran = 0, first_saved;
	int lost = 0;

	if (!b->rem)
		return 0;
	ops = calloc((b->mapped ? b->plan->n : 0) + b->nsaved + 1, sizeof(*ops));
	if (ops) {
		if (b->scratch)
			ops[n++] = rop(SYS_munmap, b->scratch, b->scratch_len, 0, 0, 0,
				       true);
		for (size_t i = 0; b->mapped && i < b->plan->n; i++)
			if (b->mapped[i])
				ops[n++] = rop(SYS_munmap, b->at[i],
					       b->plan->r[i].map.end - b->plan->r[i].map.start,
					       0, 0, 0, true);
		first_saved = n;
		for (size_t i = 0; i < b->nsaved; i++) {
			const struct pgc_saved *sv = &b->saved[i];

			ops[n++] = rop(SYS_mremap, sv->tmp, sv->len, sv->len,
				       MREMAP_MAYMOVE | MREMAP_FIXED, sv->addr, true);
		}
		/* what did not run is counted below; the first error stays */
		(void)!rbatch(b, ops, n, &ran);
	} else {
		first_saved = 0;
	}
	for (size_t i = 0; i < b->nsaved; i++) {
		const struct pgc_saved *sv = &b->saved[i];
		size_t k = first_saved + i;

		if (ops && k < ran && (uint64_t)ops[k].ret == sv->addr)
			continue;
		pr_warn("could not put 0x%llx-0x%llx of PID %d back from 0x%llx",
			(unsigned long long)sv->addr,
			(unsigned long long)(sv->addr + sv->len),
			(int)b->plan->dst_pid, (unsigned long long)sv->tmp);
		lost++;
	}
	free(ops);
	/* the executor lives in the stage reservation's tail */
	pgc_remote_exec_drop(b->rem);
	if (b->stage_area)
		rmunmap(b, b->stage_area, b->stage_len + b->exec_len);
	/* a piece that could not go back keeps its reservation alive */
	if (b->save_area && !lost)
		rmunmap(b, b->save_area, b->save_len);
	free(b->saved);
	free(b->mapped);
	free(b->at);
	memset(b, 0, sizeof(*b));
	return lost;
}

int pgc_rollback_failed(pid_t pid, int lost)
{
	pgc_clear_error();
	return pgc_fail(-EIO,
			"PID %d could NOT be fully restored: %d replaced mapping(s) stay set aside (see the warnings)",
			(int)pid, lost);
}
