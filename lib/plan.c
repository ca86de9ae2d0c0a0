// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * plan.c - turn a request (pid, address, length, destination) into a plain
 * array of ranges, one per source mapping, with everything an engine, the
 * dry run and the JSON output need.  All input validation lives here so
 * that nothing is changed before a request is known to be sane.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pgcloneP.h"

static const char *display_name(const struct pgc_vma *v)
{
	return v->name[0] ? v->name : "[anon]";
}

int pgc_plan_push(struct pgc_plan *plan, const struct pgc_vma *v,
		  uint64_t start, uint64_t end)
{
	struct pgclone_range *r;
	const struct pgc_vma **sv;

	/* grown by powers of two: thousands of VMAs, not a realloc each */
	if (!(plan->n & (plan->n - 1))) {
		size_t cap = plan->n ? 2 * plan->n : 1;

		r = realloc(plan->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		plan->r = r;
		sv = realloc(plan->src_vma, cap * sizeof(*sv));
		if (!sv)
			return -ENOMEM;
		plan->src_vma = sv;
	}

	r = &plan->r[plan->n];
	memset(r, 0, sizeof(*r));
	r->map = v->m;
	r->map.start = start;
	r->map.end = end;
	if (v->m.ino)
		r->map.offset = v->m.offset + (start - v->m.start);
	r->dst = plan->dst + (start - plan->src);
	r->pages = (end - start) >> PGC_PAGE_SHIFT;
	plan->src_vma[plan->n] = v;
	plan->n++;
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * Ranges said at info level; the rest at debug level, with one line that
 * counts them.  A clone of 30,000 VMAs said 30,000 lines, which took a
 * good part of the plan phase whose time -v then reported.
 */
#define PLAN_LOG_INFO 16

/*
 * Say, before anything is done, every source mapping a request takes, as
 * the kernel keeps it: a buffer mapped next to memory of the same kind
 * shares its VMA (glibc's TLS pages, another array), and without a length
 * all of that VMA is taken.  -v shows these lines.
 */
void pgc_plan_log(const struct pgc_plan *plan, bool whole)
{
	if (plan->n > PLAN_LOG_INFO)
		pr_info("taking %zu ranges; the first %d:", plan->n, PLAN_LOG_INFO);
	for (size_t i = 0; i < plan->n; i++) {
		const struct pgclone_range *r = &plan->r[i];
		const struct pgc_vma *v = plan->src_vma ? plan->src_vma[i] : NULL;
		bool all_of_it = v && r->map.start == v->m.start && r->map.end == v->m.end;

		pgc_log(i < PLAN_LOG_INFO ? PGCLONE_LOG_INFO : PGCLONE_LOG_DEBUG,
			"taking 0x%llx-0x%llx %c%c%c%c %s%s%s (%llu pages, %s)%s",
			(unsigned long long)r->map.start,
			(unsigned long long)r->map.end,
			r->map.prot & PROT_READ ? 'r' : '-',
			r->map.prot & PROT_WRITE ? 'w' : '-',
			r->map.prot & PROT_EXEC ? 'x' : '-',
			r->map.shared ? 's' : 'p',
			pgclone_kind_name(r->map.kind),
			r->map.name[0] ? " " : "", r->map.name,
			(unsigned long long)r->pages,
			!v ? "from the image" : all_of_it ? "the whole mapping" :
			"part of the mapping",
			whole && i == plan->n - 1 ?
			": no length given, so up to the end of the mapping" : "");
	}
	if (plan->n > PLAN_LOG_INFO)
		pr_info("and %zu more, each said at debug level%s",
			plan->n - PLAN_LOG_INFO, whole ?
			"; no length given, so up to the end of the last mapping" : "");
}

static int plan_build(struct pgc_plan *plan, pid_t src_pid,
		      const struct pgc_vma_list *maps, uint64_t src, uint64_t len,
		      pid_t dst_pid, uint64_t dst, bool dst_auto)
{
	const struct pgc_vma *v;
	uint64_t end, cur;
	bool whole;
	int ret;

	memset(plan, 0, sizeof(*plan));
	plan->src_pid = src_pid;
	plan->dst_pid = dst_pid;
	src = PGC_PAGE_DOWN(src);

	if (src >= PGC_USER_ADDR_LIMIT)
		return pgc_fail(-EINVAL, "source address 0x%llx is not a user address",
				(unsigned long long)src);
	if (dst >= PGC_TASK_SIZE)
		return pgc_fail(-EINVAL,
				"destination address 0x%llx is not a user address",
				(unsigned long long)dst);
	if (!PGC_PAGE_ALIGNED(dst))
		return pgc_fail(-EINVAL,
				"destination address 0x%llx is not page aligned",
				(unsigned long long)dst);
	if (!dst && !dst_auto)
		return pgc_fail(-EINVAL, "destination address 0 is not allowed");

	v = pgc_maps_find(maps, src);
	if (!v)
		return pgc_fail(-EFAULT, "0x%llx is not mapped in PID %d",
				(unsigned long long)src, (int)src_pid);
	whole = !len;
	if (!len)
		len = v->m.end - src;
	if (len > PGC_USER_ADDR_LIMIT)
		return pgc_fail(-EINVAL, "length 0x%llx is too large",
				(unsigned long long)len);
	len = (len + PGC_PAGE_SIZE - 1) & ~(PGC_PAGE_SIZE - 1);
	if (src + len > PGC_USER_ADDR_LIMIT || src + len < src)
		return pgc_fail(-EINVAL, "source range 0x%llx+0x%llx ends past user space",
				(unsigned long long)src, (unsigned long long)len);
	if (dst + len > PGC_TASK_SIZE || dst + len < dst)
		return pgc_fail(-EINVAL,
				"destination range 0x%llx+0x%llx ends past user space",
				(unsigned long long)dst, (unsigned long long)len);
	plan->src = src;
	plan->len = len;
	plan->dst = dst;
	end = src + len;

	if (!dst_auto && src_pid == dst_pid && overlaps(src, len, dst, len))
		return pgc_fail(-EINVAL,
				"destination 0x%llx-0x%llx overlaps the source range",
				(unsigned long long)dst,
				(unsigned long long)(dst + len));

	for (cur = src; cur < end; cur = v->m.end) {
		v = pgc_maps_find(maps, cur);
		if (!v) {
			const struct pgc_vma *next = NULL;

			for (size_t i = 0; i < maps->n && !next; i++)
				if (maps->v[i].m.start > cur)
					next = &maps->v[i];
			return pgc_fail(-EFAULT,
					"hole in the source range at 0x%llx-0x%llx in PID %d",
					(unsigned long long)cur,
					(unsigned long long)(next && next->m.start < end ?
							     next->m.start : end),
					(int)src_pid);
		}
		if (v->m.refusal != PGCLONE_OK)
			return pgc_fail(-EOPNOTSUPP,
					"cannot clone 0x%llx-0x%llx %s: %s",
					(unsigned long long)v->m.start,
					(unsigned long long)v->m.end,
					display_name(v),
					pgclone_refusal_name(v->m.refusal));
		ret = pgc_plan_push(plan, v, cur, v->m.end < end ? v->m.end : end);
		if (ret)
			return pgc_fail(ret, "out of memory");
	}
	pgc_plan_log(plan, whole);
	return 0;
}

int pgc_plan_build(struct pgc_plan *plan, pid_t src_pid,
		   const struct pgc_vma_list *maps, uint64_t src, uint64_t len,
		   pid_t dst_pid, uint64_t dst)
{
	return plan_build(plan, src_pid, maps, src, len, dst_pid, dst, false);
}

int pgc_plan_build_auto(struct pgc_plan *plan, pid_t src_pid,
			const struct pgc_vma_list *maps, uint64_t src,
			uint64_t len, pid_t dst_pid)
{
	return plan_build(plan, src_pid, maps, src, len, dst_pid, 0, true);
}

int pgc_plan_set_dst(struct pgc_plan *plan, uint64_t dst)
{
	uint64_t delta = dst - plan->dst;

	if (!dst || !PGC_PAGE_ALIGNED(dst) || dst + plan->len > PGC_TASK_SIZE ||
	    dst + plan->len < dst)
		return pgc_fail(-EIO, "PID %d offered 0x%llx for 0x%llx bytes",
				(int)plan->dst_pid, (unsigned long long)dst,
				(unsigned long long)plan->len);
	for (size_t i = 0; i < plan->n; i++)
		plan->r[i].dst += delta;
	plan->dst = dst;
	return 0;
}

/* The index of the first of @maps (sorted, disjoint) that ends above @addr. */
static size_t first_ending_above(const struct pgc_vma_list *maps, uint64_t addr)
{
	size_t lo = 0, hi = maps->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (maps->v[mid].m.end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Only the mappings the window meets are looked at: a plan of 30,000
 * ranges against a destination of 30,000 mappings (a clone inside one
 * process) must not cost their product.
 */
static int check_window(const struct pgc_plan *plan, uint64_t dst, uint64_t len,
			const struct pgc_vma_list *dst_maps, bool replace)
{
	for (size_t i = first_ending_above(dst_maps, dst);
	     i < dst_maps->n && dst_maps->v[i].m.start < dst + len; i++) {
		const struct pgc_vma *v = &dst_maps->v[i];

		if (!replace)
			return pgc_fail(-EEXIST,
					"destination 0x%llx-0x%llx overlaps 0x%llx-0x%llx %s in PID %d (use --replace)",
					(unsigned long long)dst,
					(unsigned long long)(dst + len),
					(unsigned long long)v->m.start,
					(unsigned long long)v->m.end,
					display_name(v), (int)plan->dst_pid);
		if (v->m.refusal != PGCLONE_OK ||
		    (v->vmflags & (VMF_SEALED | VMF_SHADOW_STACK)))
			return pgc_fail(-EOPNOTSUPP,
					"cannot replace 0x%llx-0x%llx %s in PID %d: %s",
					(unsigned long long)v->m.start,
					(unsigned long long)v->m.end,
					display_name(v), (int)plan->dst_pid,
					v->vmflags & VMF_SEALED ? "sealed" :
					v->vmflags & VMF_SHADOW_STACK ? "shadow stack" :
					pgclone_refusal_name(v->m.refusal));
	}
	return 0;
}

int pgc_plan_check_dst(const struct pgc_plan *plan,
		       const struct pgc_vma_list *dst_maps, bool replace)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct pgclone_range *r = &plan->r[i];
		int ret = check_window(plan, r->dst, r->map.end - r->map.start,
				       dst_maps, replace);

		if (ret)
			return ret;
	}
	return 0;
}

static const char *const area_names[] = {
	[PGC_AREA_STACK] = "stack pointer",
	[PGC_AREA_RSEQ] = "rseq area",
	[PGC_AREA_TLS] = "TLS (fs_base)",
	[PGC_AREA_ROBUST] = "robust-futex list head",
};

/* The first destination window that holds @a, or NULL. */
static const struct pgclone_range *window_holding(const struct pgc_plan *plan,
						  const struct pgc_thread_area *a)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct pgclone_range *r = &plan->r[i];

		if (overlaps(r->dst, r->map.end - r->map.start, a->addr, a->len))
			return r;
	}
	return NULL;
}

int pgc_plan_check_threads(const struct pgc_plan *plan,
			   const struct pgc_thread_areas *areas, bool force)
{
	const struct pgclone_range *first = NULL;
	char what[300] = "";
	size_t used = 0, listed = 0, hits = 0;
	uint64_t end;

	for (size_t i = 0; i < areas->n; i++) {
		const struct pgc_thread_area *a = &areas->a[i];
		const struct pgclone_range *r = window_holding(plan, a);
		char one[96];

		if (!r)
			continue;
		if (!first)
			first = r;
		hits++;
		snprintf(one, sizeof(one), "%sthread %d's %s at 0x%llx",
			 listed ? ", " : "", (int)a->tid, area_names[a->kind],
			 (unsigned long long)a->addr);
		/* room for " and NNN more" stays free */
		if (used + strlen(one) + 16 < sizeof(what)) {
			memcpy(what + used, one, strlen(one) + 1);
			used += strlen(one);
			listed++;
		}
	}
	if (!first)
		return 0;
	if (hits > listed)
		snprintf(what + used, sizeof(what) - used, " and %zu more",
			 hits - listed);
	end = first->dst + first->map.end - first->map.start;
	if (force) {
		pr_warn("replacing 0x%llx-0x%llx in PID %d although it holds %s (--force)",
			(unsigned long long)first->dst, (unsigned long long)end,
			(int)areas->pid, what);
		return 0;
	}
	return pgc_fail(-EBUSY,
			"refusing to replace 0x%llx-0x%llx in PID %d: it holds %s; the thread would crash (--force to replace it anyway)",
			(unsigned long long)first->dst, (unsigned long long)end,
			(int)areas->pid, what);
}

void pgc_plan_free(struct pgc_plan *plan)
{
	free(plan->r);
	free(plan->src_vma);
	pgc_maps_free(&plan->src_maps);
	memset(plan, 0, sizeof(*plan));
}
