// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * update.c - restore --update: a delta written into the live clone of its
 * parent, in place, all or nothing.
 *
 * restore.c reads the chain and the delta (each by a parser of its own)
 * while the target is frozen; what it finds comes here:
 *
 *  - the pages of the chain that the delta leaves to its parent are
 *    compared with the target's own, before anything changes: a target
 *    that does not hold the clone of the delta's parent (another image,
 *    another range, or a clone it wrote to since) is refused;
 *  - the delta's pages are held here until the parser says every
 *    checksum and the trailer match, so a corrupt image changes nothing;
 *  - the pages the delta no longer has (dropped, or the zero page now)
 *    and the protections it changed are noted.
 *
 * Only then is the target changed, through /proc/PID/mem (whatever the
 * protection) and syscalls run in it: the delta's pages written, the
 * pages it no longer has dropped (MADV_DONTNEED), the protections set.
 * What each step replaces is kept first -- the bytes of every populated
 * page, which pages were not populated -- so that a failure at any point,
 * a fault point or SIGINT puts every byte, every protection and the
 * untouched pages back while the target is still frozen: it never sees
 * the update half done.  The mappings themselves are never replaced, so
 * /proc/PID/maps changes only where a protection does.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../engine/engine.h"
#include "image.h"

/*
 * Append [addr, addr + len) to @s, with @len bytes from @buf, or read from
 * @fd at @addr when @buf is NULL and @fd >= 0, or no bytes at all.
 */
static int store_put(struct pgc_store *s, uint64_t addr, const void *buf,
		     int fd, size_t len)
{
	struct pgc_upiece *last = s->n ? &s->p[s->n - 1] : NULL;
	bool bytes = buf || fd >= 0;

	if (bytes && s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap : 1 << 20;
		char *b;

		while (cap < s->len + len)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b)
			return pgc_fail(-ENOMEM, "out of memory holding the update's pages");
		s->buf = b;
		s->cap = cap;
	}
	if (buf)
		memcpy(s->buf + s->len, buf, len);
	else if (fd >= 0 && pread(fd, s->buf + s->len, len, (off_t)addr) != (ssize_t)len)
		return -ESRCH;
	/* contiguous in the target and in the store: one piece */
	if (last && last->addr + last->len == addr &&
	    (!bytes || last->off + last->len == s->len)) {
		last->len += len;
	} else {
		if (s->n == s->cap_p) {
			size_t cap = s->cap_p ? s->cap_p * 2 : 64;
			struct pgc_upiece *p = realloc(s->p, cap * sizeof(*p));

			if (!p)
				return pgc_fail(-ENOMEM, "out of memory holding the update's pages");
			s->p = p;
			s->cap_p = cap;
		}
		s->p[s->n++] = (struct pgc_upiece){ addr, len, s->len };
	}
	if (bytes)
		s->len += len;
	return 0;
}

static int store_add(struct pgc_store *s, uint64_t addr, const void *buf,
		     size_t len)
{
	return store_put(s, addr, buf, -1, len);
}

static void store_free(struct pgc_store *s)
{
	free(s->buf);
	free(s->p);
	memset(s, 0, sizeof(*s));
}

int pgc_update_open(struct pgc_update *up, pid_t pid)
{
	char path[64];

	memset(up, 0, sizeof(*up));
	up->pid = pid;
	up->mem = up->pagemap = -1;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	up->mem = pgc_proc_open(path, O_RDWR);
	if (up->mem < 0)
		return pgc_fail(-EPERM, "cannot open %s", path);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	up->pagemap = pgc_proc_open(path, O_RDONLY);
	if (up->pagemap < 0)
		return pgc_fail(-EPERM, "cannot open %s", path);
	return 0;
}

void pgc_update_close(struct pgc_update *up)
{
	if (up->mem >= 0)
		close(up->mem);
	if (up->pagemap >= 0)
		close(up->pagemap);
	store_free(&up->put);
	store_free(&up->undo);
	store_free(&up->fresh);
	store_free(&up->drop);
	free(up->prot);
	memset(up, 0, sizeof(*up));
	up->mem = up->pagemap = -1;
}

static int gone(const struct pgc_update *up)
{
	return pgc_fail(-ESRCH, "PID %d exited during the update", (int)up->pid);
}

static int mem_read(const struct pgc_update *up, uint64_t addr, void *buf,
		    size_t len)
{
	if (pread(up->mem, buf, len, (off_t)addr) != (ssize_t)len)
		return gone(up);
	return 0;
}

static int mem_write(const struct pgc_update *up, uint64_t addr,
		     const void *buf, size_t len)
{
	if (pwrite(up->mem, buf, len, (off_t)addr) != (ssize_t)len)
		return gone(up);
	return 0;
}

#define PM_BATCH 512	/* pagemap entries read at a time */

/*
 * Call @fn for each run of pages of [addr, addr + len) that are populated
 * (@populated) or not: reading an untouched page would populate it.
 */
static int each_run(const struct pgc_update *up, uint64_t addr, uint64_t len,
		    int (*fn)(struct pgc_update *, uint64_t, uint64_t, bool),
		    struct pgc_update *ctx)
{
	uint64_t pm[PM_BATCH];
	uint64_t end = addr + len, run = addr;
	bool run_pop = false;
	int ret = 0;

	while (!ret && addr < end) {
		size_t n = (size_t)((end - addr) / PGC_PAGE_SIZE);
		ssize_t got;

		if (n > PM_BATCH)
			n = PM_BATCH;
		got = pread(up->pagemap, pm, n * sizeof(pm[0]),
			    (off_t)(addr / PGC_PAGE_SIZE * sizeof(pm[0])));
		if (got != (ssize_t)(n * sizeof(pm[0])))
			return gone(up);
		for (size_t i = 0; !ret && i < n; i++, addr += PGC_PAGE_SIZE) {
			bool pop = pgc_pagemap_populated(pm[i]);

			if (addr == run) {
				run_pop = pop;
				continue;
			}
			if (pop == run_pop)
				continue;
			ret = fn(ctx, run, addr - run, run_pop);
			run = addr;
			run_pop = pop;
		}
	}
	if (!ret && run < end)
		ret = fn(ctx, run, end - run, run_pop);
	return ret;
}

int pgc_update_compare(struct pgc_update *up, uint64_t addr, const void *want,
		       size_t len)
{
	char *live = malloc(len ? len : 1);
	int ret;

	if (!live)
		return -ENOMEM;
	ret = mem_read(up, addr, live, len);
	for (size_t off = 0; !ret && off < len; off += PGC_PAGE_SIZE) {
		size_t n = len - off < PGC_PAGE_SIZE ? len - off : PGC_PAGE_SIZE;

		if (memcmp(live + off, (const char *)want + off, n))
			ret = pgc_fail(-EINVAL, "0x%llx in PID %d is not the page the chain holds there: no clone of the delta's parent is there, or the process wrote to it since",
				       (unsigned long long)(addr + off), (int)up->pid);
	}
	free(live);
	return ret;
}

static bool all_zero(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int zero_run(struct pgc_update *up, uint64_t addr, uint64_t len, bool pop)
{
	static char page[PGC_PAGE_SIZE];
	int ret = 0;

	for (uint64_t a = addr; pop && !ret && a < addr + len; a += PGC_PAGE_SIZE) {
		ret = mem_read(up, a, page, PGC_PAGE_SIZE);
		if (!ret && !all_zero(page, PGC_PAGE_SIZE))
			ret = pgc_fail(-EINVAL, "0x%llx in PID %d is not the zero page the chain holds there: no clone of the delta's parent is there, or the process wrote to it since",
				       (unsigned long long)a, (int)up->pid);
	}
	return ret;
}

int pgc_update_check_zero(struct pgc_update *up, uint64_t addr, uint64_t len)
{
	return each_run(up, addr, len, zero_run, up);
}

int pgc_update_put(struct pgc_update *up, uint64_t addr, const void *buf,
		   size_t len)
{
	up->pages_written += len / PGC_PAGE_SIZE;
	return store_add(&up->put, addr, buf, len);
}

/* A populated page that is not all zeroes goes: its bytes are kept. */
static int drop_run(struct pgc_update *up, uint64_t addr, uint64_t len, bool pop)
{
	static char page[PGC_PAGE_SIZE];
	int ret = 0;

	for (uint64_t a = addr; pop && !ret && a < addr + len; a += PGC_PAGE_SIZE) {
		ret = mem_read(up, a, page, PGC_PAGE_SIZE);
		if (ret || all_zero(page, PGC_PAGE_SIZE))
			continue;
		ret = store_add(&up->undo, a, page, PGC_PAGE_SIZE);
		if (!ret)
			ret = store_add(&up->drop, a, NULL, PGC_PAGE_SIZE);
		up->pages_dropped++;
	}
	return ret;
}

int pgc_update_drop(struct pgc_update *up, uint64_t addr, uint64_t len)
{
	return each_run(up, addr, len, drop_run, up);
}

int pgc_update_protect(struct pgc_update *up, uint64_t addr, uint64_t len,
		       uint32_t from, uint32_t to)
{
	struct pgc_uprot *p = realloc(up->prot, (up->n_prot + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	up->prot = p;
	p[up->n_prot++] = (struct pgc_uprot){ addr, len, from, to };
	return 0;
}

/* What a write over [addr, addr + len) replaces, kept. */
static int keep_run(struct pgc_update *up, uint64_t addr, uint64_t len, bool pop)
{
	int ret;

	if (!pop)
		return store_add(&up->fresh, addr, NULL, len);
	ret = store_put(&up->undo, addr, NULL, up->mem, len);
	return ret == -ESRCH ? gone(up) : ret;
}

int pgc_update_keep(struct pgc_update *up)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < up->put.n; i++)
		ret = each_run(up, up->put.p[i].addr, up->put.p[i].len, keep_run, up);
	return ret;
}

/* MADV_DONTNEED of every piece of @s, in batches. */
static int drop_pieces(struct pgc_update *up, struct pgc_remote *rem,
		       const struct pgc_store *s, size_t *done)
{
	struct pgc_rop ops[256];
	int ret = 0;

	*done = 0;
	while (!ret && *done < s->n) {
		size_t n = s->n - *done, ran = 0;

		if (n > ARRAY_SIZE(ops))
			n = ARRAY_SIZE(ops);
		for (size_t i = 0; i < n; i++)
			ops[i] = (struct pgc_rop){ .nr = SYS_madvise,
						   .a = { s->p[*done + i].addr,
							  s->p[*done + i].len,
							  MADV_DONTNEED } };
		ret = pgc_remote_batch(rem, ops, n, &ran);
		for (size_t i = 0; i < ran && !ret; i++)
			if (ops[i].ret)
				ret = pgc_fail(-EIO, "madvise(MADV_DONTNEED) of 0x%llx in PID %d failed: %s",
					       (unsigned long long)ops[i].a[0],
					       (int)up->pid, strerror((int)-ops[i].ret));
		if (!ret)
			*done += n;
	}
	return ret;
}

static int protect(struct pgc_update *up, struct pgc_remote *rem,
		   const struct pgc_uprot *p, bool back)
{
	long r;
	int ret = pgc_remote_syscall(rem, &r, SYS_mprotect, p->addr, p->len,
				     back ? p->from : p->to, 0, 0, 0);

	if (!ret && r)
		ret = pgc_fail(-EIO, "mprotect of 0x%llx-0x%llx in PID %d failed: %s",
			       (unsigned long long)p->addr,
			       (unsigned long long)(p->addr + p->len), (int)up->pid,
			       strerror((int)-r));
	return ret;
}

int pgc_update_apply(struct pgc_update *up, struct pgc_remote *rem,
		     const struct pgc_request *req)
{
	uint64_t done = 0;
	size_t dropped;
	int ret = 0;

	up->changing = true;
	for (size_t i = 0; !ret && i < up->put.n; i++) {
		const struct pgc_upiece *p = &up->put.p[i];

		ret = mem_write(up, p->addr, up->put.buf + p->off, p->len);
		done += p->len;
		if (!ret && pgc_cancelled(req, done, up->put.len))
			ret = pgc_fail(-EINTR, "interrupted");
	}
	if (!ret)
		ret = pgc_step(req, "written");
	if (!ret)
		ret = drop_pieces(up, rem, &up->drop, &dropped);
	if (!ret)
		ret = pgc_step(req, "dropped");
	for (; !ret && up->prot_done < up->n_prot; up->prot_done++)
		ret = protect(up, rem, &up->prot[up->prot_done], false);
	return ret;
}

/*
 * Exited, or exiting: its memory is gone (/proc/PID/mem reads nothing
 * once the process has let go of it, before it is a zombie), so there is
 * nothing to put back.
 */
static bool exited(const struct pgc_update *up)
{
	struct pgc_status st;
	char c;

	if (pgc_status_read(up->pid, 0, &st) || st.state == 'Z' || st.state == 'X')
		return true;
	return up->put.n && pread(up->mem, &c, 1, (off_t)up->put.p[0].addr) == 0;
}

int pgc_update_rollback(struct pgc_update *up, struct pgc_remote *rem)
{
	bool died = false;
	size_t done;
	int err, lost = 0;

	if (!up->changing)
		return 0;
	up->changing = false;
	if (exited(up)) {
		pr_info("PID %d exited: nothing to put back", (int)up->pid);
		return 0;
	}
	while (up->prot_done) {
		err = protect(up, rem, &up->prot[--up->prot_done], true);
		died |= err == -ESRCH;
		lost += !!err;
	}
	/* every byte a write or a drop replaced, then the untouched pages */
	for (size_t i = 0; i < up->undo.n; i++) {
		const struct pgc_upiece *p = &up->undo.p[i];

		if (mem_write(up, p->addr, up->undo.buf + p->off, p->len))
			lost++;
	}
	err = drop_pieces(up, rem, &up->fresh, &done);
	died |= err == -ESRCH;
	if (err)
		lost += (int)(up->fresh.n - done);
	/*
	 * It died while we worked (the syscalls run in it found it gone: a
	 * SIGKILL, the one way out of our stop): what failed had nothing to
	 * go back to.
	 */
	if (lost && (died || exited(up))) {
		pr_info("PID %d exited: nothing to put back", (int)up->pid);
		return 0;
	}
	if (lost)
		pr_warn("%d piece(s) of PID %d could not be put back as they were",
			lost, (int)up->pid);
	return lost;
}
