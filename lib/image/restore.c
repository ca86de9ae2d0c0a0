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
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../engine/engine.h"
#include "image.h"

#define SCRATCH_LEN (64 * 1024)

struct restorer {
	const struct pgc_request *req;
	struct pgc_img img;
	struct pgc_img_parser parser;	/* who reads the image for us */
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
	struct pgc_phases ph;		/* -v: where the time goes */
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

static int flush_batch(struct restorer *rs, struct pgc_img_batch *b)
{
	size_t want = pgc_img_batch_iov_bytes(b);
	int ret = pgc_img_parser_read(&rs->parser, b->buf, b->used);

	if (ret)
		return ret;
	if (b->niov && pgc_vm_writev(rs->req->dst_pid, b->liov, b->niov,
				     b->riov, b->niov) != (ssize_t)want)
		return pgc_fail(-ESRCH, "PID %d exited during the restore",
				(int)rs->req->dst_pid);
	pgc_img_batch_done(b, NULL);
	return 0;
}

/* The data area, from the parser, into the ranges built aside. */
static int stream_data(struct restorer *rs)
{
	const Pgclone__Manifest *m = rs->img.m;
	struct pgc_img_batch *b = pgc_img_batch_new();
	uint64_t done = 0, k = 0;
	int ret = 0;

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		struct pgclone_range *p = &rs->plan.r[e->range];
		uint64_t left = e->nr_pages * PGC_PAGE_SIZE;
		uint64_t at = rs->build.at[e->range] + e->offset;
		bool wanted = extent_wanted(rs, e);

		p->pages_present += e->nr_pages;
		if (e->kind != PGCLONE__EXTENT_KIND__DATA)
			continue;
		if (wanted)
			p->pages_copied += e->nr_pages;
		else
			p->pages_shared += e->nr_pages;
		while (!ret && left) {
			size_t n = pgc_img_batch_room(b);

			if (!n) {
				done += b->used;
				ret = flush_batch(rs, b);
				if (!ret && pgc_cancelled(rs->req, done,
							  rs->img.h.data_len))
					ret = pgc_fail(-EINTR, "interrupted");
				continue;
			}
			if (n > left)
				n = (size_t)left;
			pgc_img_batch_add(b, k, n, wanted ? at : 0);
			at += n;
			left -= n;
		}
		k++;
	}
	if (!ret)
		ret = flush_batch(rs, b);
	pgc_img_batch_free(b);
	return ret;
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
	/* --dst auto: where the reservation lands is free by definition */
	if (!ret && !(req->flags & PGCLONE_DST_AUTO))
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
	ret = stream_data(rs);
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
	struct restorer rs = { .req = req };
	uint64_t elapsed;
	int ret;

	pgc_phases_start(&rs.ph);
	pgc_img_tune_fd(in);
	ret = pgc_img_parser_start(&rs.parser, in, req, &rs.img);
	if (!ret)
		ret = check_machine(&rs.img);
	if (!ret)
		ret = make_plan(&rs);
	if (!ret)
		pgc_phase_end(&rs.ph, "parse");
	if (!ret && !(req->flags & PGCLONE_DRY_RUN))
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
	if (rs.built) {
		int lost = ret && !rs.committed ? pgc_build_rollback(&rs.build) : 0;

		if (lost)
			ret = pgc_rollback_failed(req->dst_pid, lost);
		else if (!ret || rs.committed)
			pgc_build_commit(&rs.build);
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
	free(rs.obj_fd);
	free(rs.obj_by_path);
	free(rs.plan.r);
	pgc_img_free(&rs.img);
	return ret;
}
