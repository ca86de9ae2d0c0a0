/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uffdwp.h - written-page tracking by userfaultfd's asynchronous
 * write-protect mode (Linux 6.7+), for kernels without soft-dirty.
 * See uffdwp.c.
 */
#ifndef PGCLONE_UFFDWP_H
#define PGCLONE_UFFDWP_H

#include "../inject/inject.h"

/* <linux/userfaultfd.h> and <linux/fs.h> of Linux 6.7 */
#define PGC_UFFD_USER_MODE_ONLY 1
#define PGC_UFFD_FEATURE_WP_UNPOPULATED (1ULL << 13)
#define PGC_UFFD_FEATURE_WP_ASYNC (1ULL << 15)
#define PGC_UFFD_WP_FEATURES (PGC_UFFD_FEATURE_WP_ASYNC | PGC_UFFD_FEATURE_WP_UNPOPULATED)

/*
 * 0 when userfaultfd's asynchronous write-protect mode can be had here (a
 * userfaultfd of our own with UFFD_USER_MODE_ONLY takes the features);
 * -EOPNOTSUPP, with the reason, when not.
 */
int pgc_uffdwp_supported(void);
/* The same, quietly. */
bool pgc_uffdwp_available(void);

/*
 * The target's tracking userfaultfd, as recorded: descriptor @fd of the
 * target, whose inode is @ino.  pgc_uffdwp_check() says whether it is
 * still there and still ours (0), -ENOENT when it is not (closed,
 * replaced, exec'd), and refuses (-EBUSY) a target using userfaultfd
 * otherwise: another userfaultfd descriptor (@fd < 0: any), or a mapping
 * registered in a mode ours never is (@maps).
 */
int pgc_uffdwp_check(pid_t pid, int fd, uint64_t ino,
		     const struct pgc_vma_list *maps) __must_check;

/* Parsers, for tests: the record ("FD INO\n"), and the target's fdinfo. */
int pgc_uffdwp_parse_record(const char *buf, size_t len, int *fd,
			    uint64_t *ino) __must_check;
int pgc_uffdwp_parse_fdinfo(const char *buf, uint64_t *ino,
			    uint64_t *features) __must_check;

/*
 * Arm tracking of the mappings @vmas (@n of them) of the process a remote
 * session @r (begun while we may read the process's seccomp filters and
 * maps, before a dump's ready callback) holds stopped: register each whole mapping for write-protection with the
 * target's userfaultfd *@fd (created first when *@fd < 0: *@ino and
 * *@created say which and that it was), then write-protect every
 * populated page of them through @pagemap_fd (PAGEMAP_SCAN).  On failure
 * a userfaultfd created here is closed again: the target is as it was.
 */
int pgc_uffdwp_arm(struct pgc_remote *r, int pagemap_fd,
		   const struct pgc_vma *const *vmas, size_t n, int *fd,
		   uint64_t *ino, bool *created) __must_check;

/*
 * Write-protect again, from outside, every populated page of the mappings
 * @vmas (@n of them) that tracking registered (VMF_UFFD_WP): a live
 * dump's next round, where its walk could not (pgc_walk.rearm).
 */
int pgc_uffdwp_protect(int pagemap_fd, pid_t pid,
		       const struct pgc_vma *const *vmas, size_t n) __must_check;

/*
 * Unregister [@start, @stop) of the target from its userfaultfd @fd: the
 * kernel clears the write-protection of every page there, which costs
 * the target's time (some 0.3 ms per MiB), so a live dump ends tracking a
 * bounded range per stop.  Parts not registered (any more) are passed
 * over.  Returns 0, -ESRCH, -EPERM or -EIO (the syscall could not run).
 */
int pgc_uffdwp_unregister(struct pgc_remote *r, int fd, uint64_t start,
			  uint64_t stop) __must_check;

/*
 * End tracking: unregister the mappings @vmas (@n of them; those not
 * registered are passed over), then close @fd in the target.  Returns 0,
 * -ESRCH, -EPERM or -EIO.
 */
int pgc_uffdwp_disarm(struct pgc_remote *r, int fd,
		      const struct pgc_vma *const *vmas, size_t n) __must_check;

#endif
