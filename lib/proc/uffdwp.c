// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * uffdwp.c - written-page tracking by userfaultfd's asynchronous
 * write-protect mode, where the kernel keeps no soft-dirty bits.
 *
 * A userfaultfd with UFFD_FEATURE_WP_ASYNC (Linux 6.7) never queues a
 * message: the kernel resolves a write to a write-protected page itself,
 * by dropping the protection, and PAGEMAP_SCAN reports a page without it
 * as PAGE_IS_WRITTEN.  UFFD_FEATURE_WP_UNPOPULATED lets PAGEMAP_SCAN
 * protect anonymous memory at all.  The userfaultfd must belong to the
 * tracked process -- a registration lives as long as its file -- so it is
 * created there, with syscalls injected while the dump holds the process
 * stopped (inject/): userfaultfd(UFFD_USER_MODE_ONLY | O_CLOEXEC), which
 * needs no privilege whatever vm.unprivileged_userfaultfd says, then
 * UFFDIO_API and one UFFDIO_REGISTER (mode WP) per mapping, their
 * arguments in a page of the target's mapped for the purpose and
 * unmapped again.  pgclone then write-protects the populated pages from
 * outside, with PAGEMAP_SCAN's PM_SCAN_WP_MATCHING on /proc/PID/pagemap.
 *
 * The descriptor stays open in the target while tracking lasts: its
 * number and inode are recorded beside the generation (softdirty.c), and
 * the next dump trusts it only if /proc/PID/fdinfo still shows that
 * inode with the features we asked for.  A target that closed it, or
 * exec'd (it is O_CLOEXEC), has lost its tracking, and a delta is
 * refused.  See pgclone(1), WRITTEN-PAGE TRACKING.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/userfaultfd.h>

#include "uffdwp.h"

/* <linux/fs.h> of Linux 6.7 */
struct pgc_uw_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};

#define PGC_UW_PAGEMAP_SCAN _IOWR('f', 16, struct pgc_uw_scan_arg)
#define PM_SCAN_WP_MATCHING (1ULL << 0)
#define PM_SCAN_CHECK_WPASYNC (1ULL << 1)
#define UW_PAGE_IS_WRITTEN (1ULL << 1)
#define UW_PAGE_IS_PRESENT (1ULL << 3)
#define UW_PAGE_IS_SWAPPED (1ULL << 4)

#define UFFD_LINK "anon_inode:[userfaultfd]"

bool pgc_uffdwp_available(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = PGC_UFFD_WP_FEATURES };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | PGC_UFFD_USER_MODE_ONLY);
	bool ok = fd >= 0 && !ioctl(fd, UFFDIO_API, &api) &&
		  (api.features & PGC_UFFD_WP_FEATURES) == PGC_UFFD_WP_FEATURES;

	if (fd >= 0)
		close(fd);
	return ok;
}

int pgc_uffdwp_supported(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = PGC_UFFD_WP_FEATURES };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | PGC_UFFD_USER_MODE_ONLY);
	int ret = 0;

	if (fd < 0)
		return pgc_fail(-EOPNOTSUPP, "this kernel has no userfaultfd for written-page tracking: %s",
				strerror(errno));
	if (ioctl(fd, UFFDIO_API, &api) ||
	    (api.features & PGC_UFFD_WP_FEATURES) != PGC_UFFD_WP_FEATURES)
		ret = pgc_fail(-EOPNOTSUPP, "this kernel has no asynchronous uffd-wp mode (UFFD_FEATURE_WP_ASYNC, Linux 6.7+)");
	close(fd);
	return ret;
}

int pgc_uffdwp_parse_record(const char *buf, size_t len, int *fd, uint64_t *ino)
{
	char tmp[64], *end;
	unsigned long long i;
	long f;

	if (!len || len >= sizeof(tmp) || buf[len - 1] != '\n')
		return -EINVAL;
	memcpy(tmp, buf, len - 1);
	tmp[len - 1] = '\0';
	if (tmp[0] < '0' || tmp[0] > '9')
		return -EINVAL;
	errno = 0;
	f = strtol(tmp, &end, 10);
	if (errno || *end != ' ' || f < 0 || f > INT32_MAX ||
	    end[1] < '0' || end[1] > '9')
		return -EINVAL;
	i = strtoull(end + 1, &end, 10);
	if (errno || *end || !i)
		return -EINVAL;
	*fd = (int)f;
	*ino = i;
	return 0;
}

int pgc_uffdwp_parse_fdinfo(const char *buf, uint64_t *ino, uint64_t *features)
{
	bool have_ino = false, have_api = false;

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		unsigned long long a, b, c;

		if (!strncmp(p, "ino:", 4) && sscanf(p + 4, "%llu", &a) == 1) {
			*ino = a;
			have_ino = true;
		} else if (!strncmp(p, "API:", 4) &&
			   sscanf(p + 4, "%llx:%llx:%llx", &a, &b, &c) == 3) {
			/* "API:\t<UFFD_API>:<features>:<ioctls>" */
			*features = b;
			have_api = true;
		}
	}
	return have_ino && have_api ? 0 : -EINVAL;
}

/* The target's descriptor @fd: a userfaultfd?  Its inode and features. */
static int read_fdinfo(pid_t pid, int fd, uint64_t *ino, uint64_t *features)
{
	char path[64], link[64], buf[1024];
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT ? -ENOENT : -EPERM;
	link[n] = '\0';
	if (strcmp(link, UFFD_LINK))
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	f = pgc_proc_open(path, O_RDONLY);
	if (f < 0)
		return errno == ENOENT ? -ENOENT : -EPERM;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	return pgc_uffdwp_parse_fdinfo(buf, ino, features) ? -ENOENT : 0;
}

static int check(pid_t pid, int fd, uint64_t ino, const struct pgc_vma_list *maps)
{
	char path[320], link[64];
	bool ours = false;
	struct dirent *de;
	DIR *dir;

	if (fd >= 0) {
		uint64_t i = 0, features = 0;
		int ret = read_fdinfo(pid, fd, &i, &features);

		if (ret == -EPERM)
			return pgc_fail(-EPERM, "cannot read the descriptors of PID %d", (int)pid);
		ours = !ret && i == ino &&
		       (features & PGC_UFFD_WP_FEATURES) == PGC_UFFD_WP_FEATURES;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return pgc_fail(errno == ENOENT ? -ESRCH : -EPERM,
				"cannot read the descriptors of PID %d", (int)pid);
	while ((de = readdir(dir))) {
		char *end;
		long n = strtol(de->d_name, &end, 10);
		ssize_t len;

		if (*end || de->d_name[0] == '.' || (ours && n == fd))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		if (!strcmp(link, UFFD_LINK)) {
			closedir(dir);
			return pgc_fail(-EBUSY, "PID %d uses userfaultfd itself (descriptor %ld): uffd-wp tracking would share its mappings; use soft-dirty tracking (--track-method soft-dirty) where the kernel has it",
					(int)pid, n);
		}
	}
	closedir(dir);
	for (size_t i = 0; maps && i < maps->n; i++) {
		const struct pgc_vma *v = &maps->v[i];

		/* ours only ever registers write-protection */
		if ((v->vmflags & VMF_UFFD_MI) || (!ours && (v->vmflags & VMF_UFFD)))
			return pgc_fail(-EBUSY, "0x%llx-0x%llx of PID %d is registered with a userfaultfd that is not pgclone's: uffd-wp tracking cannot share it",
					(unsigned long long)v->m.start,
					(unsigned long long)v->m.end, (int)pid);
	}
	return ours ? 0 : -ENOENT;
}

/* /proc/PID/fd takes what /proc/PID/mem takes */
int pgc_uffdwp_check(pid_t pid, int fd, uint64_t ino, const struct pgc_vma_list *maps)
{
	int ret;

	pgc_priv_raise(PGC_CAPS_PROC);
	ret = check(pid, fd, ino, maps);
	pgc_priv_lower();
	return ret;
}

/* ---- in the target ---------------------------------------------------- */

/*
 * The remote session is begun before the dump's ready callback, which may
 * drop every capability: after it only what a tracer may do to its
 * tracee works -- injected syscalls, PTRACE_POKEDATA and PEEKDATA -- and
 * so that is all this uses (no /proc/PID/mem, no process_vm_writev).
 */
struct session {
	struct pgc_remote *r;
	pid_t pid;
	uint64_t page;			/* for the ioctls' arguments */
};

static int rsys(struct session *s, long *ret, long nr, uint64_t a0, uint64_t a1,
		uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	int err = pgc_remote_syscall(s->r, ret, nr, a0, a1, a2, a3, a4, a5);

	if (err == -EACCES)
		return pgc_fail(-EPERM, "the seccomp filter of PID %d forbids %s, which uffd-wp tracking runs in it",
				(int)s->pid, pgc_arch_syscall_name(nr));
	if (err)
		return pgc_fail(err == -ESRCH ? -ESRCH : -EIO,
				"PID %d stopped answering while pgclone armed tracking in it",
				(int)s->pid);
	return 0;
}

/* Words to and from the page, as its tracer. */
static int poke(struct session *s, const void *buf, size_t len)
{
	for (size_t off = 0; off < len; off += sizeof(long)) {
		long w = 0;

		memcpy(&w, (const char *)buf + off, len - off < sizeof(w) ? len - off : sizeof(w));
		if (ptrace(PTRACE_POKEDATA, s->r->tid, (void *)(uintptr_t)(s->page + off),
			   (void *)w))
			return pgc_fail(-EIO, "cannot write into PID %d: %s", (int)s->pid,
					strerror(errno));
	}
	return 0;
}

static int peek(struct session *s, void *buf, size_t len)
{
	for (size_t off = 0; off < len; off += sizeof(long)) {
		long w;

		errno = 0;
		w = ptrace(PTRACE_PEEKDATA, s->r->tid, (void *)(uintptr_t)(s->page + off), NULL);
		if (errno)
			return pgc_fail(-EIO, "cannot read PID %d: %s", (int)s->pid,
					strerror(errno));
		memcpy((char *)buf + off, &w, len - off < sizeof(w) ? len - off : sizeof(w));
	}
	return 0;
}

/* ioctl(@fd, @cmd, &@arg) in the target; @arg goes and comes back. */
static int rioctl(struct session *s, long *ret, int fd, unsigned long cmd,
		  void *arg, size_t len)
{
	int err = poke(s, arg, len);

	if (!err)
		err = rsys(s, ret, SYS_ioctl, (uint64_t)fd, cmd, s->page, 0, 0, 0);
	if (!err && *ret >= 0)
		err = peek(s, arg, len);
	return err;
}

static int begin(struct session *s, struct pgc_remote *r)
{
	long ret;
	int err;

	memset(s, 0, sizeof(*s));
	s->r = r;
	s->pid = r->proc->pid;
	err = rsys(s, &ret, SYS_mmap, 0, PGC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);
	if (!err && (unsigned long)ret > -4096UL)
		err = pgc_fail(-ENOMEM, "no room for a page in PID %d: %s", (int)s->pid,
			       strerror((int)-ret));
	if (!err)
		s->page = (uint64_t)ret;
	return err;
}

static int end(struct session *s, int err)
{
	long ret = 0;
	int e = 0;

	if (s->page)
		e = rsys(s, &ret, SYS_munmap, s->page, PGC_PAGE_SIZE, 0, 0, 0, 0);
	if (!e && ret)
		e = pgc_fail(-EIO, "cannot unmap pgclone's page 0x%llx from PID %d",
			     (unsigned long long)s->page, (int)s->pid);
	return err ? err : e;
}

static void unregister_all(struct session *s, int fd,
			   const struct pgc_vma *const *vmas, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct uffdio_range rg = { vmas[i]->m.start, vmas[i]->m.end - vmas[i]->m.start };
		long ret;

		if (i && vmas[i - 1] == vmas[i])
			continue;
		/* one not registered (any more) says EINVAL: nothing to undo */
		(void)rioctl(s, &ret, fd, UFFDIO_UNREGISTER, &rg, sizeof(rg));
	}
}

static int close_fd(struct session *s, int fd)
{
	long ret;
	int err = rsys(s, &ret, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0);

	if (!err && ret)
		err = pgc_fail(-EIO, "cannot close descriptor %d of PID %d: %s", fd,
			       (int)s->pid, strerror((int)-ret));
	return err;
}

/* st_ino: the second word of struct stat on every 64-bit Linux */
#define STAT_INO_OFF 8

static int create(struct session *s, int *fd, uint64_t *ino)
{
	struct uffdio_api api = { .api = UFFD_API, .features = PGC_UFFD_WP_FEATURES };
	uint64_t st[3];
	long ret;
	int err = rsys(s, &ret, SYS_userfaultfd, O_CLOEXEC | PGC_UFFD_USER_MODE_ONLY,
		       0, 0, 0, 0, 0);

	if (!err && ret < 0)
		return pgc_fail(-EOPNOTSUPP, "userfaultfd(2) failed in PID %d: %s",
				(int)s->pid, strerror((int)-ret));
	if (err)
		return err;
	*fd = (int)ret;
	err = pgc_fault_point("uffd-created");
	if (!err)
		err = rioctl(s, &ret, *fd, UFFDIO_API, &api, sizeof(api));
	if (!err && (ret < 0 || (api.features & PGC_UFFD_WP_FEATURES) != PGC_UFFD_WP_FEATURES))
		err = pgc_fail(-EOPNOTSUPP, "UFFDIO_API with the asynchronous write-protect mode failed in PID %d: %s",
			       (int)s->pid, strerror(ret < 0 ? (int)-ret : EINVAL));
	/* its inode, which /proc/PID/fdinfo shows the next dump */
	if (!err)
		err = rsys(s, &ret, SYS_fstat, (uint64_t)*fd, s->page, 0, 0, 0, 0);
	if (!err && !ret)
		err = peek(s, st, sizeof(st));
	if (!err && ret)
		err = pgc_fail(-EIO, "fstat of descriptor %d failed in PID %d: %s", *fd,
			       (int)s->pid, strerror((int)-ret));
	if (!err)
		*ino = st[STAT_INO_OFF / 8];
	return err;
}

/* Write-protect every populated page of [start, end) (PM_SCAN_WP_MATCHING). */
static int protect(int pagemap_fd, pid_t pid, uint64_t start, uint64_t end)
{
	while (start < end) {
		struct pgc_uw_scan_arg arg = {
			.size = sizeof(arg),
			.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = start, .end = end,
			.category_mask = UW_PAGE_IS_WRITTEN,
			.category_anyof_mask = UW_PAGE_IS_PRESENT | UW_PAGE_IS_SWAPPED,
			.return_mask = UW_PAGE_IS_WRITTEN,
		};

		if (ioctl(pagemap_fd, PGC_UW_PAGEMAP_SCAN, &arg) < 0)
			return pgc_fail(errno == EPERM ? -EIO : -EIO,
					"cannot write-protect 0x%llx-0x%llx of PID %d: %s",
					(unsigned long long)start, (unsigned long long)end,
					(int)pid, strerror(errno));
		if (arg.walk_end <= start || arg.walk_end > end)
			return pgc_fail(-EIO, "PAGEMAP_SCAN made no progress in PID %d",
					(int)pid);
		start = arg.walk_end;
	}
	return 0;
}

/*
 * Only the process's own anonymous memory: a delta stores page cache and
 * shared pages whatever they say, and a file mapping would take markers
 * in its page cache's place.  Pages of a mapping not registered read as
 * written.
 */
static bool tracked(const struct pgc_vma *v)
{
	return v->m.kind == PGCLONE_KIND_ANON_PRIVATE;
}

int pgc_uffdwp_arm(struct pgc_remote *r, int pagemap_fd,
		   const struct pgc_vma *const *vmas, size_t n, int *fd,
		   uint64_t *ino, bool *created)
{
	struct session s;
	size_t reg = 0;
	long ret = 0;
	int err = begin(&s, r);

	*created = false;
	if (!err && *fd < 0) {
		err = create(&s, fd, ino);
		*created = *fd >= 0;
	}
	for (; !err && reg < n; reg++) {
		const struct pgc_vma *v = vmas[reg];
		struct uffdio_register rg = {
			.range = { v->m.start, v->m.end - v->m.start },
			.mode = UFFDIO_REGISTER_MODE_WP,
		};

		/* ranges of one mapping: registered once */
		if ((reg && vmas[reg - 1] == v) || !tracked(v))
			continue;
		err = rioctl(&s, &ret, *fd, UFFDIO_REGISTER, &rg, sizeof(rg));
		if (!err && ret < 0)
			err = pgc_fail(ret == -EBUSY ? -EBUSY : -EOPNOTSUPP,
				       "cannot register 0x%llx-0x%llx of PID %d for uffd-wp tracking: %s",
				       (unsigned long long)v->m.start,
				       (unsigned long long)v->m.end, (int)s.pid,
				       strerror((int)-ret));
	}
	if (!err)
		err = pgc_fault_point("uffd-registered");
	for (size_t i = 0; !err && i < n; i++)
		if (tracked(vmas[i]))
			err = protect(pagemap_fd, s.pid, vmas[i]->m.start, vmas[i]->m.end);
	if (err && *created) {
		/* stopped throughout: no one else holds it, closing it undoes all */
		unregister_all(&s, *fd, vmas, reg);
		(void)close_fd(&s, *fd);
		*fd = -1;
		*created = false;
	}
	return end(&s, err);
}

int pgc_uffdwp_protect(int pagemap_fd, pid_t pid,
		       const struct pgc_vma *const *vmas, size_t n)
{
	int err = 0;

	for (size_t i = 0; !err && i < n; i++)
		if (tracked(vmas[i]) && (vmas[i]->vmflags & VMF_UFFD_WP))
			err = protect(pagemap_fd, pid, vmas[i]->m.start, vmas[i]->m.end);
	return err;
}

int pgc_uffdwp_unregister(struct pgc_remote *r, int fd, uint64_t start,
			  uint64_t stop)
{
	struct uffdio_range rg = { start, stop - start };
	struct session s;
	long ret;
	int err = begin(&s, r);

	/* EINVAL: unmapped or not registered meanwhile, nothing to clear */
	if (!err)
		err = rioctl(&s, &ret, fd, UFFDIO_UNREGISTER, &rg, sizeof(rg));
	return end(&s, err);
}

int pgc_uffdwp_disarm(struct pgc_remote *r, int fd,
		      const struct pgc_vma *const *vmas, size_t n)
{
	struct session s;
	int err = begin(&s, r);

	/* a child the target forked may hold the file too: unregister first */
	if (!err)
		unregister_all(&s, fd, vmas, n);
	if (!err)
		err = close_fd(&s, fd);
	return end(&s, err);
}
