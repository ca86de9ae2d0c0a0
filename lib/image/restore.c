// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * restore.c - recreate the ranges of an image in a live process.
 *
 * The image is read and checked by a child process that holds nothing
 * else (parser.c); this side sees only its flattened records and the
 * data.  Nothing appears at the destination until everything has been
 * checked: header and manifest are validated first, the ranges are built at
 * addresses the kernel picks (engine/build.c "staging"), the data is
 * streamed into them while the parser computes its checksums, and only
 * when it says the trailer matches are they moved into place with mremap.
 * A truncated or corrupt image therefore leaves the process exactly as it
 * was.
 *
 * A delta is restored with its chain, base first, each image read by a
 * parser of its own.  The last image's ranges and extents are what is
 * built; each of its PARENT extents takes its pages from the newest image
 * before it that holds them (as data or as the zero page).  The links --
 * each image names its parent's id and manifest checksum -- and that
 * every PARENT extent is held by the image before are checked before the
 * process is touched; then the images are read in order, each page
 * written once, from the image it resolves to, and every image's
 * checksums and trailer must match before anything is moved into place.
 *
 * With PGCLONE_UPDATE the last image is a delta to write into the live
 * clone of the images before it, which the process holds already: the
 * same parsers read the chain, but its pages are compared with the
 * process's (only those the delta leaves to its parent, which the update
 * does not write), and the delta's are handed to update.c, which writes
 * them in place once everything is checked (see there).
 *
 * Shared and file ranges are attached again to their object when it can
 * still be found with the same identity (device and inode), through its
 * path or the dumping process's /proc/PID/map_files, and when the
 * destination process could have opened it itself with the access the
 * mapping needs (engine/access.c asks it, once it is seized); otherwise
 * they are restored as private copies (with a warning), or refused with
 * --strict.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../engine/engine.h"
#include "image.h"

#define SCRATCH_LEN (64 * 1024)

/* An extent at its source address; all images of a chain share those. */
struct xspan {
	uint64_t start, end;
	uint32_t kind, range;
	bool anon;
};

/* An image of a chain: the last one's are struct restorer's own. */
struct link {
	struct pgc_img img;
	struct pgc_img_parser parser;
	struct xspan *x;
	size_t nx;
};

struct restorer {
	const struct pgc_request *req;
	struct pgc_img img;		/* the last image of the chain */
	struct pgc_img_parser parser;	/* who reads the image for us */
	struct xspan *x;		/* its extents */
	size_t nx;
	struct link *older;		/* the images before it, base first */
	size_t n_older;
	struct pgc_plan plan;
	int *obj_fd;			/* per range: our fd of its object, or -1 */
	bool *obj_by_path;		/* per range: found by its path */
	struct pgc_proc proc;
	struct pgc_vma_list dst_maps;
	struct pgc_remote rem;
	struct pgc_build build;
	bool rem_on, built;
	bool committed;			/* moved into place: never rolled back */
	uint64_t dst_span;		/* --dst auto: bytes reserved at plan.dst */
	bool update;			/* PGCLONE_UPDATE: into the live clone */
	struct pgc_update up;
	struct pgc_phases ph;		/* -v: where the time goes */
	size_t iovs, writes;		/* -vv: how the data went in */
	/* a live stream: img is round 0 (the plan's names point into it) */
	int in;				/* the stream */
	struct pgc_img cur;		/* the round being read, past round 0 */
	uint8_t **pop;			/* per range: pages written aside so far */
};

static bool same_object(int fd, const Pgclone__FileIdentity *f)
{
	struct stat sb;

	return f && !fstat(fd, &sb) && sb.st_dev == f->dev && sb.st_ino == f->ino;
}

/* Find the object of range @i again, by path, then through map_files. */
static int find_object(struct restorer *rs, size_t i)
{
	const Pgclone__Range *r = rs->img.m->ranges[i];
	const Pgclone__Source *src = rs->img.m->source;
	int flags = O_CLOEXEC | (r->kind == PGCLONE__KIND__FILE_SHARED ||
				 r->kind == PGCLONE__KIND__ANON_SHARED ?
				 O_RDWR : O_RDONLY);
	char path[96];
	int fd;

	/*
	 * The image names these objects, so they are opened only as its user
	 * could: a path with the user's own rights (a capability pgclone holds
	 * as a file capability does not count), the dumper's map_files only if
	 * the user may ptrace that process by their own right.
	 */
	if (r->file && r->file->path && r->file->path[0] == '/') {
		pgc_priv_raise_as_user(PGC_CAP_DAC_READ_SEARCH);
		fd = open(r->file->path, flags);
		if (fd < 0 && (flags & O_RDWR))
			fd = open(r->file->path, O_RDONLY | O_CLOEXEC);
		pgc_priv_lower();
		if (fd >= 0 && same_object(fd, r->file)) {
			rs->obj_by_path[i] = true;
			return fd;
		}
		if (fd >= 0)
			close(fd);
	}
	if (src->has_pid && r->has_src_start && r->has_src_end &&
	    pgc_priv_user_may(src->pid)) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx",
			 (int)src->pid, (unsigned long long)r->src_start,
			 (unsigned long long)r->src_end);
		fd = pgc_proc_open(path, flags);
		if (fd >= 0 && same_object(fd, r->file))
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -1;
}

static int give_object(struct pgc_build *b, size_t i)
{
	struct restorer *rs = b->ctx;

	return pgc_fd_give(b->rem, rs->obj_fd[i], rs->plan.r[i].map.name);
}

static int check_machine(const struct pgc_img *img)
{
	struct utsname u;

	if (img->h.ro_compat & ~PGC_IMG_RO_COMPAT_KNOWN)
		return pgc_fail(-EOPNOTSUPP, "image uses unknown features 0x%x that restore must understand",
				img->h.ro_compat & ~PGC_IMG_RO_COMPAT_KNOWN);
	if (img->h.page_size != PGC_PAGE_SIZE)
		return pgc_fail(-EINVAL, "image page size is %u, this machine's is %llu",
				img->h.page_size, PGC_PAGE_SIZE);
	uname(&u);
	if (img->m->source->arch && strcmp(img->m->source->arch, u.machine))
		return pgc_fail(-EINVAL, "image was dumped on %s, this machine is %s",
				img->m->source->arch, u.machine);
	return 0;
}

/* Ranges of the image, placed at their addresses or shifted by --dst. */
static int make_plan(struct restorer *rs)
{
	const Pgclone__Manifest *m = rs->img.m;
	struct pgc_plan *plan = &rs->plan;
	uint64_t first = m->ranges[0]->start;
	uint64_t dst0 = rs->req->dst ? rs->req->dst : first;
	bool strict = rs->req->flags & PGCLONE_STRICT;

	if (!PGC_PAGE_ALIGNED(dst0))
		return pgc_fail(-EINVAL, "destination address 0x%llx is not page aligned",
				(unsigned long long)dst0);
	plan->dst_pid = rs->req->dst_pid;
	plan->src_pid = m->source->has_pid ? m->source->pid : 0;
	plan->r = calloc(m->n_ranges, sizeof(*plan->r));
	rs->obj_fd = calloc(m->n_ranges, sizeof(*rs->obj_fd));
	rs->obj_by_path = calloc(m->n_ranges, sizeof(*rs->obj_by_path));
	if (!plan->r || !rs->obj_fd || !rs->obj_by_path)
		return -ENOMEM;
	plan->n = m->n_ranges;
	for (size_t i = 0; i < m->n_ranges; i++) {
		const Pgclone__Range *r = m->ranges[i];
		struct pgclone_range *p = &plan->r[i];
		uint64_t len = r->end - r->start;

		rs->obj_fd[i] = -1;
		pgc_img_range_public(r, (uint32_t)PGC_PAGE_SIZE, p);
		p->dst = dst0 + (r->start - first);
		if (p->dst < dst0 || p->dst + len > PGC_TASK_SIZE ||
		    p->dst + len < p->dst || !p->dst)
			return pgc_fail(-EINVAL, "range 0x%llx-0x%llx cannot exist at 0x%llx on this machine",
					(unsigned long long)r->start,
					(unsigned long long)r->end,
					(unsigned long long)p->dst);
		if (p->map.kind == PGCLONE_KIND_ANON_PRIVATE)
			continue;
		rs->obj_fd[i] = find_object(rs, i);
		if (rs->obj_fd[i] >= 0)
			continue;
		if (strict)
			return pgc_fail(-EOPNOTSUPP, "the object of 0x%llx-0x%llx %s is gone (--strict)",
					(unsigned long long)r->start,
					(unsigned long long)r->end, p->map.name);
		pr_warn("the object of 0x%llx-0x%llx %s is gone: restoring a private copy",
			(unsigned long long)r->start, (unsigned long long)r->end,
			p->map.name);
		p->map.kind = PGCLONE_KIND_ANON_PRIVATE;
		p->map.shared = 0;
	}
	plan->src = first;
	plan->dst = dst0;
	plan->len = m->ranges[m->n_ranges - 1]->end - first;
	pgc_plan_log(plan, false);
	return 0;
}

/*
 * The destination gets an object only if it could have opened it itself
 * (engine/access.c): root restoring into a user's process must not hand
 * it a file that user may not open.  Otherwise a private copy, or with
 * --strict a refusal.  Asked once the target is seized, before anything
 * in it changes.
 */
static int check_objects(struct restorer *rs)
{
	const Pgclone__Manifest *m = rs->img.m;
	bool strict = rs->req->flags & PGCLONE_STRICT;

	for (size_t i = 0; i < rs->plan.n; i++) {
		struct pgclone_range *p = &rs->plan.r[i];
		const Pgclone__Range *r = m->ranges[i];
		struct pgc_object_use use = {
			.what = p->map.name,
			.path = r->file ? r->file->path : NULL,
			/* a process shown to map it (through its map_files) */
			.holder = rs->obj_by_path[i] || !m->source->has_pid ? 0 :
				  (pid_t)m->source->pid,
			.prot = p->map.prot,
			.shared = p->map.shared,
			.may_write = p->map.shared,
		};
		char why[300];
		int ret;

		if (rs->obj_fd[i] < 0)
			continue;
		ret = pgc_target_may_have(&rs->rem, &rs->obj_fd[i], &use, why,
					  sizeof(why));
		if (ret <= 0) {
			if (ret < 0)
				return ret;
			continue;
		}
		if (strict)
			return pgc_fail(-EPERM, "PID %d could not open %s of 0x%llx-0x%llx itself (%s): not attaching it (--strict)",
					(int)rs->req->dst_pid, p->map.name,
					(unsigned long long)r->start,
					(unsigned long long)r->end, why);
		pr_warn("PID %d could not open %s of 0x%llx-0x%llx itself (%s): restoring a private copy",
			(int)rs->req->dst_pid, p->map.name,
			(unsigned long long)r->start, (unsigned long long)r->end,
			why);
		close(rs->obj_fd[i]);
		rs->obj_fd[i] = -1;
		p->map.kind = PGCLONE_KIND_ANON_PRIVATE;
		p->map.shared = 0;
	}
	return 0;
}

/* Does this extent's data go into the destination? */
static bool extent_wanted(const struct restorer *rs, const Pgclone__Extent *e)
{
	const struct pgclone_range *p = &rs->plan.r[e->range];

	switch (p->map.kind) {
	case PGCLONE_KIND_ANON_PRIVATE:
		return true;
	case PGCLONE_KIND_FILE_PRIVATE:
		return e->anon;		/* page cache comes with the file */
	default:
		return false;		/* the shared object has it */
	}
}

static int flush_batch(struct restorer *rs, struct pgc_img_parser *parser,
		       struct pgc_img_batch *b)
{
	size_t want = pgc_img_batch_iov_bytes(b);
	void *at;
	int ret = pgc_img_parser_data(parser, b->buf, b->used, &at);

	if (ret)
		return ret;
	/* the bytes are where the parser put them (its ring): point there */
	for (size_t i = 0; at != b->buf && i < b->niov; i++)
		b->liov[i].iov_base = (char *)at +
				      ((char *)b->liov[i].iov_base - b->buf);
	/* an update: the delta's pages kept, the chain's compared */
	for (size_t i = 0; rs->update && !ret && i < b->niov; i++)
		ret = parser == &rs->parser ?
		      pgc_update_put(&rs->up, (uint64_t)b->riov[i].iov_base,
				     b->liov[i].iov_base, b->liov[i].iov_len) :
		      pgc_update_compare(&rs->up, (uint64_t)b->riov[i].iov_base,
					 b->liov[i].iov_base, b->liov[i].iov_len);
	if (!ret && !rs->update && b->niov) {
		rs->iovs += b->niov;
		rs->writes++;
		if (pgc_vm_writev(rs->req->dst_pid, b->liov, b->niov, b->riov,
				  b->niov) != (ssize_t)want)
			ret = pgc_fail(-ESRCH, "PID %d exited during the restore",
				       (int)rs->req->dst_pid);
	}
	if (!ret)
		ret = pgc_img_parser_done(parser, b->used);
	pgc_img_batch_done(b, NULL);
	return ret;
}

/*
 * Where the byte of range @r at source address @a goes: the range built
 * aside, or with an update the live clone itself.
 */
static uint64_t land(const struct restorer *rs, uint32_t r, uint64_t a)
{
	uint64_t off = a - rs->img.m->ranges[r]->start;

	return (rs->update ? rs->plan.r[r].dst : rs->build.at[r]) + off;
}

/*
 * DATA extent @k, @left bytes, into the batch for @at (0: read and
 * dropped), flushed through rs->parser whenever it is full; @done counts
 * what was flushed, of @total, for the progress and SIGINT checks.
 */
static int feed_extent(struct restorer *rs, struct pgc_img_batch *b,
		       uint64_t k, uint64_t at, uint64_t left, bool wanted,
		       uint64_t *done, uint64_t total)
{
	int ret = 0;

	while (!ret && left) {
		size_t n = pgc_img_batch_room(b);

		if (!n) {
			*done += b->used;
			ret = flush_batch(rs, &rs->parser, b);
			if (!ret && pgc_cancelled(rs->req, *done, total))
				ret = pgc_fail(-EINTR, "interrupted");
			continue;
		}
		if (n > left)
			n = (size_t)left;
		pgc_img_batch_add(b, k, n, wanted ? at : 0);
		at += n;
		left -= n;
	}
	return ret;
}

/* The data area, from the parser, into the ranges built aside. */
static int stream_data(struct restorer *rs)
{
	const Pgclone__Manifest *m = rs->img.m;
	struct pgc_img_batch *b = pgc_img_batch_new(pgc_img_parser_max(&rs->parser));
	uint64_t done = 0, k = 0;
	int ret = 0;

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		struct pgclone_range *p = &rs->plan.r[e->range];
		uint64_t left = e->nr_pages * PGC_PAGE_SIZE;
		uint64_t at = land(rs, e->range,
				   rs->img.m->ranges[e->range]->start + e->offset);
		bool wanted = extent_wanted(rs, e);

		p->pages_present += e->nr_pages;
		if (e->kind != PGCLONE__EXTENT_KIND__DATA)
			continue;
		if (wanted)
			p->pages_copied += e->nr_pages;
		else
			p->pages_shared += e->nr_pages;
		ret = feed_extent(rs, b, k++, at, left, wanted, &done,
				  rs->img.h.data_len);
	}
	if (!ret)
		ret = flush_batch(rs, &rs->parser, b);
	pgc_img_batch_free(b);
	pr_debug("data written in %zu iovec(s) in %zu write(s)", rs->iovs,
		 rs->writes);
	return ret;
}

/* ---- chains ---------------------------------------------------------- */

static int index_extents(const struct pgc_img *img, struct xspan **out, size_t *n)
{
	const Pgclone__Manifest *m = img->m;
	struct xspan *x = calloc(m->n_extents ? m->n_extents : 1, sizeof(*x));

	if (!x)
		return pgc_fail(-ENOMEM, "out of memory reading a chain");
	for (size_t i = 0; i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];

		x[i].start = m->ranges[e->range]->start + e->offset;
		x[i].end = x[i].start + e->nr_pages * PGC_PAGE_SIZE;
		x[i].kind = (uint32_t)e->kind;
		x[i].range = e->range;
		x[i].anon = e->anon;
	}
	*out = x;
	*n = m->n_extents;
	return 0;
}

/* Image @j of the chain (the last is n_older), and its extents. */
static const struct pgc_img *chain_img(const struct restorer *rs, size_t j,
				       const struct xspan **x, size_t *nx)
{
	if (j == rs->n_older) {
		*x = rs->x;
		*nx = rs->nx;
		return &rs->img;
	}
	*x = rs->older[j].x;
	*nx = rs->older[j].nx;
	return &rs->older[j].img;
}

/* The first of @x (sorted, disjoint) that ends after @addr. */
static size_t first_after(const struct xspan *x, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* What a PARENT extent may take its pages from: what the dump did. */
static bool holds(const struct xspan *s)
{
	return s->kind != PGCLONE__EXTENT_KIND__DATA || s->anon;
}

/* Every PARENT extent of image @j held by image @j - 1? */
static int check_held(const struct restorer *rs, size_t j)
{
	const struct xspan *x, *px;
	size_t nx, npx, k = 0;

	chain_img(rs, j, &x, &nx);
	chain_img(rs, j - 1, &px, &npx);
	for (size_t i = 0; i < nx; i++) {
		uint64_t at = x[i].start;

		if (x[i].kind != PGCLONE__EXTENT_KIND__PARENT)
			continue;
		while (at < x[i].end) {
			while (k < npx && px[k].end <= at)
				k++;
			if (k == npx || px[k].start > at || !holds(&px[k]))
				return pgc_fail(-EINVAL, "image %zu of the chain leaves 0x%llx to its parent, which does not hold it",
						j + 1, (unsigned long long)at);
			at = px[k].end;
		}
	}
	return 0;
}

static void id_str(const Pgclone__Manifest *m, char out[33])
{
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)m->id_hi,
		 (unsigned long long)m->id_lo);
}

/* Each image a delta of the one before, the first none: before anything. */
static int check_chain(struct restorer *rs)
{
	size_t n = rs->n_older + 1;
	char a[33], b[33];
	int ret;

	for (size_t j = 0; j < n; j++) {
		const struct xspan *x;
		size_t nx;
		const struct pgc_img *img = chain_img(rs, j, &x, &nx), *prev;
		const Pgclone__Parent *p = img->m->parent;

		if (!j && p && n == 1) {
			snprintf(a, sizeof(a), "%016llx%016llx", (unsigned long long)p->id_hi,
				 (unsigned long long)p->id_lo);
			return pgc_fail(-EINVAL, "the image is a delta of image %s: restore it after its chain (-i BASE ... -i DELTA)",
					a);
		}
		if (!j && p)
			return pgc_fail(-EINVAL, "image 1 of the chain is a delta: a chain starts with a full image");
		if (!j)
			continue;
		prev = chain_img(rs, j - 1, &x, &nx);
		if (!p)
			return pgc_fail(-EINVAL, "image %zu of the chain is not a delta: only the first is a full image",
					j + 1);
		id_str(prev->m, b);
		snprintf(a, sizeof(a), "%016llx%016llx", (unsigned long long)p->id_hi,
			 (unsigned long long)p->id_lo);
		if (!prev->m->has_id_hi || !prev->m->has_id_lo ||
		    p->id_hi != prev->m->id_hi || p->id_lo != prev->m->id_lo ||
		    p->manifest_crc != prev->h.manifest_crc)
			return pgc_fail(-EINVAL, "image %zu of the chain is a delta of image %s, not of image %zu (%s)",
					j + 1, a, j, prev->m->has_id_hi ? b : "which has no id");
		ret = check_held(rs, j);
		if (ret)
			return ret;
	}
	return 0;
}

/* Start a parser for each image of the chain before the last one. */
static int start_older(struct restorer *rs)
{
	const struct pgc_request *req = rs->req;
	int ret = 0;

	if (!req->nr_chain)
		return 0;
	rs->older = calloc(req->nr_chain, sizeof(*rs->older));
	if (!rs->older)
		return pgc_fail(-ENOMEM, "out of memory reading a chain");
	for (size_t i = 0; !ret && i < req->nr_chain; i++) {
		struct link *l = &rs->older[i];

		rs->n_older = i + 1;
		pgc_img_tune_fd(req->chain[i]);
		ret = pgc_img_parser_start(&l->parser, req->chain[i], req, &l->img);
		if (!ret && l->img.m->live)
			ret = pgc_fail(-EINVAL, "image %zu of the chain is a live stream: it is restored alone",
				       i + 1);
		if (!ret)
			ret = check_machine(&l->img);
		if (!ret)
			ret = index_extents(&l->img, &l->x, &l->nx);
	}
	return ret;
}

/* Where the pages of the chain an older image gives go, and how many. */
struct feed {
	struct restorer *rs;
	struct pgc_img_parser *parser;
	struct pgc_img_batch *b;
	uint64_t k;			/* the DATA extent being read */
	uint64_t at;			/* its next byte's source address */
	uint64_t done, total;
	bool zero;			/* an update: the image's ZERO extents */
};

/* @end - f->at bytes of the extent, to @remote (0: read and dropped). */
static int feed(struct feed *f, uint64_t end, uint64_t remote)
{
	int ret = 0;

	while (!ret && f->at < end) {
		size_t n = pgc_img_batch_room(f->b);

		if (!n) {
			f->done += f->b->used;
			ret = flush_batch(f->rs, f->parser, f->b);
			if (!ret && pgc_cancelled(f->rs->req, f->done, f->total))
				ret = pgc_fail(-EINTR, "interrupted");
			continue;
		}
		if (n > end - f->at)
			n = (size_t)(end - f->at);
		pgc_img_batch_add(f->b, f->k, n, remote);
		f->at += n;
		if (remote)
			remote += n;
	}
	return ret;
}

/* [a, b) resolves to the image being read, and lands in range @r. */
static int feed_wanted(struct feed *f, uint64_t a, uint64_t b, uint32_t r)
{
	struct restorer *rs = f->rs;
	struct pgclone_range *p = &rs->plan.r[r];
	bool private = p->map.kind == PGCLONE_KIND_ANON_PRIVATE ||
		       p->map.kind == PGCLONE_KIND_FILE_PRIVATE;
	int ret;

	/* the zero page the delta leaves to its parent: zeroes there now */
	if (f->zero)
		return pgc_update_check_zero(&rs->up, land(rs, r, a), b - a);
	ret = feed(f, a, 0);
	if (ret)
		return ret;
	if (private && !rs->update)
		p->pages_copied += (b - a) / PGC_PAGE_SIZE;
	return feed(f, b, private ? land(rs, r, a) : 0);
}

/*
 * The parts of [a, b) that images @j to the last all leave to their
 * parents: those take their pages from the image before @j.
 */
static int resolve(struct feed *f, size_t j, uint64_t a, uint64_t b)
{
	const struct xspan *x;
	size_t nx;
	int ret = 0;

	chain_img(f->rs, j, &x, &nx);
	for (size_t i = first_after(x, nx, a); !ret && i < nx && x[i].start < b; i++) {
		uint64_t s = x[i].start > a ? x[i].start : a;
		uint64_t e = x[i].end < b ? x[i].end : b;

		if (x[i].kind != PGCLONE__EXTENT_KIND__PARENT)
			continue;
		ret = j == f->rs->n_older ? feed_wanted(f, s, e, x[i].range) :
					    resolve(f, j + 1, s, e);
	}
	return ret;
}

/* Image @k of the chain (not the last): read, and what resolves to it written. */
static int stream_older(struct restorer *rs, size_t k)
{
	struct link *l = &rs->older[k];
	struct feed f = { .rs = rs, .parser = &l->parser,
			  .total = l->img.h.data_len };
	int ret = 0;

	f.b = pgc_img_batch_new(pgc_img_parser_max(f.parser));
	if (!f.b)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < l->nx; i++) {
		if (l->x[i].kind != PGCLONE__EXTENT_KIND__DATA)
			continue;
		f.at = l->x[i].start;
		ret = resolve(&f, k + 1, l->x[i].start, l->x[i].end);
		if (!ret)
			ret = feed(&f, l->x[i].end, 0);
		f.k++;
	}
	/* an update checks the zero pages too; a restore leaves them be */
	f.zero = true;
	for (size_t i = 0; rs->update && !ret && i < l->nx; i++)
		if (l->x[i].kind == PGCLONE__EXTENT_KIND__ZERO)
			ret = resolve(&f, k + 1, l->x[i].start, l->x[i].end);
	if (!ret)
		ret = flush_batch(rs, f.parser, f.b);
	pgc_img_batch_free(f.b);
	/* every checksum of it, before the next is read */
	return ret ? ret : pgc_img_parser_finish(&l->parser);
}

static int stream_chain(struct restorer *rs)
{
	int ret = 0;

	for (size_t k = 0; !ret && k < rs->n_older; k++)
		ret = stream_older(rs, k);
	return ret ? ret : stream_data(rs);
}

/* ---- live streams ---------------------------------------------------- */

/*
 * A live stream (pgclone-image(5), LIVE STREAMS) is rounds back to back
 * on one input, each a complete image: round 0 the whole range, each
 * later one a delta of the round before.  They are all applied to the
 * ranges built aside -- which nobody sees until they are placed -- each
 * read by a parser of its own and checked (checksums, trailer, link to
 * the round before) before the next is started, and only the final
 * round's verdict lets run() place them.  A stream cut anywhere, a round
 * that does not follow, a bad checksum or a signal: run() fails and the
 * ranges built aside are dropped, the process as it was.
 */

static bool pop_test(const struct restorer *rs, uint32_t r, uint64_t pg)
{
	return rs->pop[r] && (rs->pop[r][pg / 8] & (1u << (pg % 8)));
}

/* Note the DATA extents written aside; @img's ranges are round 0's. */
static int pop_mark(struct restorer *rs, const struct pgc_img *img)
{
	const Pgclone__Manifest *m = img->m;

	if (!rs->pop) {
		rs->pop = calloc(rs->plan.n, sizeof(*rs->pop));
		if (!rs->pop)
			return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		const Pgclone__Range *r = m->ranges[e->range];
		uint64_t first = e->offset / PGC_PAGE_SIZE;

		if (e->kind != PGCLONE__EXTENT_KIND__DATA || !extent_wanted(rs, e))
			continue;
		if (!rs->pop[e->range]) {
			uint64_t pages = (r->end - r->start) / PGC_PAGE_SIZE;

			rs->pop[e->range] = calloc((size_t)(pages + 7) / 8, 1);
			if (!rs->pop[e->range])
				return -ENOMEM;
		}
		for (uint64_t pg = first; pg < first + e->nr_pages; pg++)
			rs->pop[e->range][pg / 8] |= (uint8_t)(1u << (pg % 8));
	}
	return 0;
}

/*
 * Drop [off, off + len) of range @r aside, in the process itself
 * (MADV_DONTNEED): what the source shows there now that its page is gone
 * -- zeroes, and an untouched page, in anonymous memory; the file's page
 * in a private file mapping.
 */
static int drop_aside(struct restorer *rs, uint32_t r, uint64_t off, uint64_t len)
{
	long got = 0;
	int ret = pgc_remote_syscall(&rs->rem, &got, SYS_madvise, rs->build.at[r] + off,
				     len, MADV_DONTNEED, 0, 0, 0);

	if (!ret && got)
		ret = pgc_fail(-EIO, "cannot drop 0x%llx bytes aside in PID %d: %s",
			       (unsigned long long)len, (int)rs->req->dst_pid,
			       strerror((int)-got));
	return ret;
}

/*
 * Pages an earlier round wrote aside that this round neither writes again
 * nor leaves to the round before: dropped since, the zero page now, or
 * page cache again (a private file page that MADV_DONTNEED gave back to
 * the file).  They are dropped aside, in runs.
 */
static int drop_gone(struct restorer *rs, const struct pgc_img *img)
{
	const Pgclone__Manifest *m = img->m;
	size_t k = 0;
	int ret = 0;

	for (uint32_t r = 0; !ret && r < m->n_ranges; r++) {
		uint64_t pages = (m->ranges[r]->end - m->ranges[r]->start) / PGC_PAGE_SIZE;
		uint64_t run = 0, n = 0;	/* the run of pages to drop */

		for (uint64_t pg = 0; !ret && rs->pop[r] && pg <= pages; pg++) {
			uint64_t off = pg * PGC_PAGE_SIZE;
			const Pgclone__Extent *e = NULL;
			bool gone;

			while (k < m->n_extents && (m->extents[k]->range < r ||
			       (m->extents[k]->range == r &&
				m->extents[k]->offset + m->extents[k]->nr_pages *
				PGC_PAGE_SIZE <= off)))
				k++;
			if (k < m->n_extents && m->extents[k]->range == r &&
			    m->extents[k]->offset <= off)
				e = m->extents[k];
			gone = pg < pages && pop_test(rs, r, pg) &&
			       !(e && (e->kind == PGCLONE__EXTENT_KIND__PARENT ||
				       (e->kind == PGCLONE__EXTENT_KIND__DATA &&
					extent_wanted(rs, e))));
			if (gone) {
				if (!n)
					run = pg;
				n++;
				rs->pop[r][pg / 8] &= (uint8_t)~(1u << (pg % 8));
				continue;
			}
			if (n)
				ret = drop_aside(rs, r, run * PGC_PAGE_SIZE, n * PGC_PAGE_SIZE);
			n = 0;
		}
	}
	return ret;
}

/* Round @cur follows the round before (@prev) and maps what round 0 mapped? */
static int check_round(const struct restorer *rs, const struct pgc_img *prev,
		       const struct pgc_img *cur)
{
	const Pgclone__Manifest *m = cur->m, *m0 = rs->img.m;
	int ret = pgc_img_next_round(prev, cur);

	if (ret)
		return ret;
	if (cur->h.page_size != rs->img.h.page_size || m->n_ranges != m0->n_ranges)
		return pgc_fail(-EPROTO, "round %u of the live stream maps other ranges than round 0",
				m->live->round);
	for (size_t i = 0; i < m->n_ranges; i++) {
		const Pgclone__Range *a = m->ranges[i], *b = m0->ranges[i];

		if (a->start != b->start || a->end != b->end || a->prot != b->prot ||
		    a->kind != b->kind)
			return pgc_fail(-EPROTO, "round %u of the live stream maps other ranges than round 0",
					m->live->round);
	}
	return 0;
}

/* The DATA of round @img, from rs->parser, into the ranges aside. */
static int apply_round(struct restorer *rs, const struct pgc_img *img)
{
	const Pgclone__Manifest *m = img->m;
	/* each round's parser may hand its data over through a ring */
	struct pgc_img_batch *b = pgc_img_batch_new(pgc_img_parser_max(&rs->parser));
	uint64_t done = 0, k = 0;
	int ret = 0;

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		uint64_t left = e->nr_pages * PGC_PAGE_SIZE;
		uint64_t at = rs->build.at[e->range] + e->offset;
		bool wanted = extent_wanted(rs, e);

		if (e->kind != PGCLONE__EXTENT_KIND__DATA)
			continue;
		ret = feed_extent(rs, b, k++, at, left, wanted, &done,
				  img->h.data_len);
	}
	if (!ret)
		ret = flush_batch(rs, &rs->parser, b);
	pgc_img_batch_free(b);
	pr_debug("data written in %zu iovec(s) in %zu write(s)", rs->iovs,
		 rs->writes);
	return ret;
}

static int stream_rounds(struct restorer *rs)
{
	struct pgc_img *prev = &rs->img;
	int ret = stream_data(rs);

	if (!ret)
		ret = pop_mark(rs, &rs->img);
	while (!ret && !prev->m->live->final) {
		struct pgc_img next;

		/* the round's checksums before the next (run() has the final's) */
		ret = pgc_img_parser_finish(&rs->parser);
		if (ret)
			break;
		pgc_img_parser_stop(&rs->parser);
		ret = pgc_step(rs->req, "live-round");
		if (!ret)
			ret = pgc_img_parser_start(&rs->parser, rs->in, rs->req, &next);
		if (ret) {
			char why[256];

			snprintf(why, sizeof(why), "%s", pgclone_last_error());
			pgc_clear_error();
			return pgc_fail(ret, "the live stream ends before its final round (after round %u): %s",
					prev->m->live->round, why);
		}
		ret = check_round(rs, prev, &next);
		if (!ret)
			ret = drop_gone(rs, &next);
		if (!ret)
			ret = apply_round(rs, &next);
		if (!ret)
			ret = pop_mark(rs, &next);
		if (!ret)
			pr_info("live round %u applied aside: %llu pages%s",
				next.m->live->round,
				(unsigned long long)(next.h.data_len / PGC_PAGE_SIZE),
				next.m->live->final ? " (final)" : "");
		if (prev != &rs->img)
			pgc_img_free(prev);
		rs->cur = next;
		prev = &rs->cur;
	}
	return ret;
}

/* ---- --update --------------------------------------------------------- */

/* The delta's parent: the image before it. */
static const Pgclone__Manifest *parent_of_last(const struct restorer *rs)
{
	return rs->older[rs->n_older - 1].img.m;
}

/*
 * What an update can apply, from the images alone: pages and protections
 * of private anonymous ranges that are where the parent's were.  A delta
 * whose layout differs (a range added, removed, moved, split, or shared)
 * is restored as a new clone instead.
 */
static int check_update_images(const struct restorer *rs)
{
	const Pgclone__Manifest *m = rs->img.m, *pm;

	if (!rs->n_older)
		return pgc_fail(-EINVAL, "--update needs the images the clone was restored from: -i BASE [-i DELTA ...] -i NEW, the last one applied");
	pm = parent_of_last(rs);
	for (size_t i = 0; i < m->n_ranges; i++) {
		const Pgclone__Range *r = m->ranges[i];

		if (r->kind != PGCLONE__KIND__ANON_PRIVATE)
			return pgc_fail(-EOPNOTSUPP, "--update writes private anonymous memory only; 0x%llx-0x%llx %s is not: restore the chain as a new clone",
					(unsigned long long)r->start,
					(unsigned long long)r->end, r->name ? r->name : "");
	}
	for (size_t i = 0; i < m->n_ranges || i < pm->n_ranges; i++) {
		const Pgclone__Range *r = i < m->n_ranges ? m->ranges[i] : NULL;
		const Pgclone__Range *p = i < pm->n_ranges ? pm->ranges[i] : NULL;

		if (!r || !p || r->start != p->start || r->end != p->end ||
		    p->kind != r->kind)
			return pgc_fail(-EOPNOTSUPP, "--update: the delta's mappings are not its parent's (the source mapped, unmapped or split 0x%llx since): restore the chain as a new clone",
					(unsigned long long)(r ? r->start : p->start));
	}
	return 0;
}

/* The live range: mapped as the parent's ranges were, privately, anonymous. */
static int check_live(const struct restorer *rs)
{
	const Pgclone__Manifest *pm = parent_of_last(rs);

	for (size_t i = 0; i < rs->plan.n; i++) {
		const struct pgclone_range *p = &rs->plan.r[i];
		uint64_t at = p->dst, end = p->dst + (p->map.end - p->map.start);
		uint32_t prot = pm->ranges[i]->prot;

		while (at < end) {
			const struct pgc_vma *v = pgc_maps_find(&rs->dst_maps, at);
			char perms[4] = { prot & PROT_READ ? 'r' : '-',
					  prot & PROT_WRITE ? 'w' : '-',
					  prot & PROT_EXEC ? 'x' : '-', '\0' };

			if (!v)
				return pgc_fail(-EINVAL, "PID %d holds no clone of the delta's parent: nothing is mapped at 0x%llx",
						(int)rs->req->dst_pid, (unsigned long long)at);
			if (v->m.kind != PGCLONE_KIND_ANON_PRIVATE || v->m.prot != prot)
				return pgc_fail(-EINVAL, "PID %d holds no clone of the delta's parent at 0x%llx: it maps %s %s there, the parent private anonymous %s",
						(int)rs->req->dst_pid, (unsigned long long)at,
						pgclone_kind_name(v->m.kind),
						v->name && v->name[0] ? v->name : "memory", perms);
			/* userfaultfd: a write there could wait on a stopped handler */
			if (v->m.refusal != PGCLONE_OK)
				return pgc_fail(-EOPNOTSUPP, "--update cannot write into 0x%llx-0x%llx of PID %d: %s",
						(unsigned long long)v->m.start,
						(unsigned long long)v->m.end, (int)rs->req->dst_pid,
						pgclone_refusal_name(v->m.refusal));
			at = v->m.end;
		}
	}
	return 0;
}

/*
 * What the delta does besides its pages: drop what it no longer has
 * (neither its data nor its parent's), set the protections it changed.
 */
static int plan_update(struct restorer *rs)
{
	const Pgclone__Manifest *m = rs->img.m, *pm = parent_of_last(rs);
	size_t k = 0;
	int ret = 0;

	for (size_t i = 0; !ret && i < m->n_ranges; i++) {
		const Pgclone__Range *r = m->ranges[i];
		uint64_t at = r->start;

		for (; !ret && k < rs->nx && rs->x[k].range == i; k++) {
			if (rs->x[k].kind == PGCLONE__EXTENT_KIND__ZERO)
				continue;
			if (rs->x[k].start > at)
				ret = pgc_update_drop(&rs->up, land(rs, (uint32_t)i, at),
						      rs->x[k].start - at);
			at = rs->x[k].end;
		}
		if (!ret && r->end > at)
			ret = pgc_update_drop(&rs->up, land(rs, (uint32_t)i, at),
					      r->end - at);
		if (!ret && r->prot != pm->ranges[i]->prot)
			ret = pgc_update_protect(&rs->up, rs->plan.r[i].dst,
						 r->end - r->start,
						 pm->ranges[i]->prot, r->prot);
	}
	/* and what the writes replace: all read before the first change */
	return ret ? ret : pgc_update_keep(&rs->up);
}

/*
 * Seized and checked (check_live): read everything, then write.  Nothing
 * in the process changes before pgc_update_apply().
 */
static int run_update(struct restorer *rs)
{
	const struct pgc_request *req = rs->req;
	int ret = pgc_ready(req);

	if (!ret)
		ret = stream_chain(rs);
	if (!ret)
		ret = pgc_img_parser_finish(&rs->parser);
	if (!ret)
		ret = plan_update(rs);
	if (!ret)
		ret = pgc_step(req, "verified");
	if (ret || (req->flags & PGCLONE_DRY_RUN))
		return ret;
	pgc_phase_end(&rs->ph, "check");
	ret = pgc_update_apply(&rs->up, &rs->rem, req);
	if (!ret)
		ret = pgc_step(req, "finished");
	if (ret)
		return ret;
	rs->committed = true;
	pr_info("update: %llu pages written, %llu dropped, %zu protection(s) changed",
		(unsigned long long)rs->up.pages_written,
		(unsigned long long)rs->up.pages_dropped, rs->up.n_prot);
	pgc_phase_end(&rs->ph, "write");
	return pgc_fault_point("committed");
}

static int run(struct restorer *rs)
{
	const struct pgc_request *req = rs->req;
	int ret;

	ret = pgc_proc_seize(&rs->proc, req->dst_pid);
	if (!ret)
		ret = pgc_pin_check(req->dst_pin, req->dst_pid);
	if (ret)
		return ret;
	ret = pgc_maps_read(req->dst_pid, &rs->dst_maps);
	/* an update: the clone must be there, and what it needs opened */
	if (!ret && rs->update)
		ret = check_live(rs);
	if (!ret && rs->update)
		ret = pgc_update_open(&rs->up, req->dst_pid);
	/* --dst auto: where the reservation lands is free by definition */
	if (!ret && !rs->update && !(req->flags & PGCLONE_DST_AUTO))
		ret = pgc_plan_check_dst(&rs->plan, &rs->dst_maps,
					 req->flags & PGCLONE_REPLACE);
	if (!ret && (req->flags & PGCLONE_REPLACE))
		ret = pgc_replace_check_threads(&rs->proc, &rs->plan,
						req->flags & PGCLONE_FORCE);
	if (!ret)
		ret = pgc_step(req, "seized");
	if (ret)
		return ret;
	pgc_phase_end(&rs->ph, "seize");
	ret = pgc_remote_begin(&rs->rem, &rs->proc);
	if (ret)
		return ret;
	rs->rem_on = true;
	if (rs->update)
		return run_update(rs);
	ret = check_objects(rs);
	if (!ret)
		ret = pgc_ready(req);
	/* --dst auto: the target's kernel picks, while it is frozen */
	if (!ret && (req->flags & PGCLONE_DST_AUTO))
		ret = pgc_build_reserve_dst(&rs->rem, &rs->plan, &rs->dst_span);
	if (ret)
		return ret;
	ret = pgc_build_stage(&rs->build, &rs->rem, &rs->plan, give_object, rs,
			      SCRATCH_LEN);
	if (ret)
		return ret;
	rs->built = true;

	ret = pgc_step(req, "mapped");
	if (ret)
		return ret;
	pgc_phase_end(&rs->ph, "map");
	/*
	 * As the copy engine does: no huge page where the source had none,
	 * before the data's own faults could make one, and one madvise for
	 * ranges side by side, where pgc_build_finish() makes one each.
	 */
	ret = pgc_build_advise_all(&rs->build, PGCLONE_ADV_NOHUGEPAGE,
				   MADV_NOHUGEPAGE);
	if (!ret)
		ret = rs->img.m->live ? stream_rounds(rs) : stream_chain(rs);
	/* every checksum and the trailer, as the parser found them */
	if (!ret)
		ret = pgc_img_parser_finish(&rs->parser);
	if (ret)
		return ret;
	pgc_phase_end(&rs->ph, "copy");
	ret = pgc_build_finish(&rs->build);
	if (!ret)
		ret = pgc_build_drop_scratch(&rs->build);
	if (!ret)
		ret = pgc_step(req, "finished");
	if (!ret)
		ret = pgc_build_place(&rs->build, &rs->dst_maps,
				      req->flags & PGCLONE_REPLACE);
	if (ret)
		return ret;
	/* the commit point: from here on nothing is rolled back */
	rs->committed = true;
	pgc_phase_end(&rs->ph, "place");
	return pgc_fault_point("committed");
}

int pgc_image_restore(const struct pgc_request *req, int in,
		      struct pgclone_result *res)
{
	struct restorer rs = { .req = req,
			       .parser = { .data = -1, .verdict = -1 },
			       .update = req->flags & PGCLONE_UPDATE,
			       .up = { .mem = -1, .pagemap = -1 } };
	uint64_t elapsed;
	int ret;

	pgc_phases_start(&rs.ph);
	ret = start_older(&rs);
	rs.in = in;
	pgc_img_tune_fd(in);
	if (!ret)
		ret = pgc_img_parser_start(&rs.parser, in, req, &rs.img);
	if (!ret)
		ret = check_machine(&rs.img);
	if (!ret)
		ret = index_extents(&rs.img, &rs.x, &rs.nx);
	if (!ret && rs.img.m->live && (rs.n_older || rs.update))
		ret = pgc_fail(-EINVAL, "a live stream is restored alone: not in a chain, nor with --update");
	if (!ret && rs.img.m->live && rs.img.m->live->round)
		ret = pgc_fail(-EPROTO, "the live stream starts at round %u, not at round 0",
			       rs.img.m->live->round);
	if (!ret)
		ret = check_chain(&rs);
	if (!ret && rs.update)
		ret = check_update_images(&rs);
	if (!ret)
		ret = make_plan(&rs);
	if (!ret)
		pgc_phase_end(&rs.ph, "parse");
	/* an update's dry run checks the live clone too: it changes nothing */
	if (!ret && (!(req->flags & PGCLONE_DRY_RUN) || rs.update))
		ret = run(&rs);
	else if (!ret && (req->flags & PGCLONE_REPLACE))	/* a dry run */
		ret = pgc_replace_check_pid(req->dst_pid, &rs.plan,
					    req->flags & PGCLONE_FORCE);
	if (!ret && (req->flags & PGCLONE_DRY_RUN) && (req->flags & PGCLONE_DST_AUTO))
		for (size_t i = 0; i < rs.plan.n; i++)	/* not chosen: offsets */
			rs.plan.r[i].dst -= rs.plan.dst;
	if (!ret && (req->flags & PGCLONE_DRY_RUN) && (req->flags & PGCLONE_DST_AUTO))
		rs.plan.dst = 0;
	pgc_img_parser_stop(&rs.parser);
	for (size_t i = 0; i < rs.n_older; i++)
		pgc_img_parser_stop(&rs.older[i].parser);
	if (rs.built) {
		int lost = ret && !rs.committed ? pgc_build_rollback(&rs.build) : 0;

		if (lost)
			ret = pgc_rollback_failed(req->dst_pid, lost);
		else if (!ret || rs.committed)
			pgc_build_commit(&rs.build);
	}
	if (ret && !rs.committed && rs.up.changing) {
		int lost = pgc_update_rollback(&rs.up, &rs.rem);

		if (lost) {
			pgc_clear_error();
			ret = pgc_fail(-EIO, "PID %d could NOT be put back as it was: %d piece(s) of the update stay (see the warnings)",
				       (int)req->dst_pid, lost);
		}
	}
	if (rs.rem_on) {
		pgc_build_unreserve_dst(&rs.rem, &rs.plan, rs.dst_span, rs.committed);
		pgc_remote_end(&rs.rem);
	}
	pgc_proc_release(&rs.proc);
	pgc_maps_free(&rs.dst_maps);
	pgc_phase_end(&rs.ph, "detach");
	ret = pgc_request_finish(res, &rs.plan, rs.committed, true, ret,
				 "a step after the commit failed");
	elapsed = pgc_phases_elapsed(&rs.ph);
	if (!ret || rs.committed) {
		res->engine = PGCLONE_ENGINE_COPY;
		res->elapsed_ns = elapsed;
	}
	for (size_t i = 0; rs.obj_fd && i < rs.plan.n; i++)
		if (rs.obj_fd[i] >= 0)
			close(rs.obj_fd[i]);
	pgc_update_close(&rs.up);
	free(rs.obj_fd);
	free(rs.obj_by_path);
	free(rs.plan.r);
	pgc_img_free(&rs.img);
	pgc_img_free(&rs.cur);
	for (size_t i = 0; rs.pop && i < rs.plan.n; i++)
		free(rs.pop[i]);
	free(rs.pop);
	free(rs.x);
	for (size_t i = 0; i < rs.n_older; i++) {
		pgc_img_free(&rs.older[i].img);
		free(rs.older[i].x);
	}
	free(rs.older);
	return ret;
}
