/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine.h - pieces the engines share: building the destination mappings
 * in a target (with exact rollback), and handing it file descriptors.
 */
#ifndef PGCLONE_ENGINE_H
#define PGCLONE_ENGINE_H

#include "../inject/inject.h"

/* A piece of the destination set aside by --replace, to put back on failure. */
struct pgc_saved {
	uint64_t addr, len;	/* where it was */
	uint64_t tmp;		/* where it waits */
};

struct pgc_build;
/* Install in the target the object range @i maps; return its fd there. */
typedef int (*pgc_build_fd_fn)(struct pgc_build *b, size_t i);

struct pgc_build {
	struct pgc_remote *rem;
	const struct pgc_plan *plan;
	bool *mapped;			/* per range */
	uint64_t *at;			/* per range: where it is mapped now */
	bool staged;			/* built aside, moved into place last */
	uint64_t stage_area, stage_len;	/* reservation the staged ranges live in */
	uint64_t exec_len;		/* after them: room for the batch executor */
	unsigned int advised;		/* PGCLONE_ADV_* every range has had */
	pgc_build_fd_fn get_fd;		/* NULL: the source mapping's object */
	void *ctx;			/* for get_fd */
	uint64_t scratch;		/* RW scratch in the target, or 0 */
	size_t scratch_len;
	uint64_t save_area;		/* reservation for set-aside pieces */
	uint64_t save_len;
	struct pgc_saved *saved;
	size_t nsaved;
};

/*
 * Create every range of @plan in the target, writable for the copy that
 * follows, plus a scratch area: in a reservation the kernel picks, away
 * from the destination and aligned like it within a huge page, so that
 * nothing appears at the destination until pgc_build_place() moves the
 * finished ranges there.  Objects come from @get_fd (NULL: the source
 * mapping's own).  With @replace, place first moves what the destination
 * overlaps (listed in @dst_maps) aside with mremap, so that a failure can
 * move it back intact.  On failure everything is undone.
 */
int pgc_build_stage(struct pgc_build *b, struct pgc_remote *rem,
		    const struct pgc_plan *plan, pgc_build_fd_fn get_fd,
		    void *ctx, size_t scratch_len) __must_check;
int pgc_build_place(struct pgc_build *b, const struct pgc_vma_list *dst_maps,
		    bool replace) __must_check;
/*
 * --dst auto, while the target is frozen: a PROT_NONE reservation of the
 * plan's span that the target's kernel places, at the source's offset
 * within a huge page; the plan is moved there (pgc_plan_set_dst) and
 * *span set.  pgc_build_place()'s mremap replaces it range by range.
 * pgc_build_unreserve_dst() then unmaps what is left of it: all of it on
 * failure, only the gaps between ranges after the commit.
 */
int pgc_build_reserve_dst(struct pgc_remote *rem, struct pgc_plan *plan,
			  uint64_t *span) __must_check;
void pgc_build_unreserve_dst(struct pgc_remote *rem, const struct pgc_plan *plan,
			     uint64_t span, bool committed);
/* Hand a descriptor of ours to the target; returns its fd number there. */
int pgc_fd_give(struct pgc_remote *rem, int fd, const char *what) __must_check;
/*
 * madvise(@madv) range @i where it is being built: the source's huge page
 * advice must hold while the copy faults pages in, not only afterwards.
 * A refusal is a warning (the clone is still right, only not huge).
 */
int pgc_build_advise(struct pgc_build *b, size_t i, int madv) __must_check;
/* madvise(@madv) every range whose source has advice @adv, in one go. */
int pgc_build_advise_all(struct pgc_build *b, unsigned int adv,
			 int madv) __must_check;
/* Names, advice and final protection, as the source has them. */
int pgc_build_finish(struct pgc_build *b) __must_check;
/* Drop the scratch area (before the result becomes final). */
int pgc_build_drop_scratch(struct pgc_build *b) __must_check;
/* Success: forget what was set aside (it is unmapped). */
void pgc_build_commit(struct pgc_build *b);
/*
 * Failure: unmap what was created, move set-aside pieces back.  Returns
 * how many pieces could not be put back (0: the target is as it was).
 */
int pgc_build_rollback(struct pgc_build *b);
/* Turn a failed rollback into the error the caller must see. */
int pgc_rollback_failed(pid_t pid, int lost);

/* Write @len bytes at @addr in the target (scratch memory). */
int pgc_target_write(pid_t pid, uint64_t addr, const void *buf, size_t len);

/*
 * Open the object behind source mapping @v of @src_pid (through
 * /proc/PID/map_files, so deleted files and memfds work too) and install
 * it in the target.  Returns the target's fd number or -errno.
 */
int pgc_fd_to_target(struct pgc_remote *rem, pid_t src_pid,
		     const struct pgc_vma *v) __must_check;

/* An object pgclone holds, and how the target is to map it. */
struct pgc_object_use {
	const char *what;	/* its name, for messages */
	const char *path;	/* where the target would find it, or NULL */
	pid_t holder;		/* a process that maps it, or 0 */
	uint32_t prot;		/* PROT_* of the mapping */
	bool shared;		/* MAP_SHARED */
	bool may_write;		/* shared: may become writable (VM_MAYWRITE) */
};

/*
 * access.c: may the target have the object behind our @fd by its own
 * rights, with the access @use needs?  Asked by the target itself (see
 * access.c).  Returns 0 (yes; *fd may have been replaced by a read-only
 * descriptor, with a warning, when write access is not needed now and
 * the target may only read), 1 (no: *why says why), or -errno.
 */
int pgc_target_may_have(struct pgc_remote *rem, int *fd,
			const struct pgc_object_use *use, char *why,
			size_t n) __must_check;

/* ---- transfer.c: which way the copy engine moves data ---------------- */
enum pgc_xfer {
	PGC_XFER_INJECT,	/* the target's own process_vm_readv: one copy */
	PGC_XFER_BOUNCE,	/* pgclone's buffer: readv in, writev out */
};
/* What each way is timed on before one is chosen: whichever comes first. */
#define PGC_XFER_SAMPLE_BYTES (8ULL << 20)
#define PGC_XFER_SAMPLE_BATCHES 8
/* The target's own read is timed this much at a time, to stop it early. */
#define PGC_XFER_SAMPLE_STEP (1ULL << 20)
struct pgc_xfer_sample {
	uint64_t bytes, ns;
	unsigned int batches;
};
struct pgc_xfer_pick {
	enum pgc_xfer via;		/* the way the next batch goes */
	bool deciding;			/* still timing both */
	struct pgc_xfer_sample tried[2];	/* by enum pgc_xfer */
};
/* Start timing both ways (bounce first), or only bounce when the target
 * may not read. */
void pgc_xfer_pick_init(struct pgc_xfer_pick *p, bool inject_ok);
/* The most bytes the next batch should hold (@normal once decided). */
uint64_t pgc_xfer_batch_bytes(const struct pgc_xfer_pick *p, uint64_t normal);
/* A batch of @bytes went @used in @ns: time it; choose once both are. */
void pgc_xfer_account(struct pgc_xfer_pick *p, enum pgc_xfer used,
		      uint64_t bytes, uint64_t ns);
/* The target may not read the source: bounce from now on. */
void pgc_xfer_refused(struct pgc_xfer_pick *p);

#endif
