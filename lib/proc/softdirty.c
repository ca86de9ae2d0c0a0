// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * softdirty.c - written-page tracking: which pages of a process were
 * written since a dump armed it.
 *
 * The kernel keeps one soft-dirty bit per page (CONFIG_MEM_SOFT_DIRTY):
 * set by every write fault and on every page of a mapping created, moved
 * or merged since, cleared for the whole process by writing "4" to
 * /proc/PID/clear_refs.  It is read in one of two ways, chosen at run time
 * (the page walk, proc/pagewalk.c, reads it with everything else it
 * reads, in the same pass):
 *
 *   PGC_TRACK_SCAN     ioctl(PAGEMAP_SCAN) with PAGE_IS_SOFT_DIRTY
 *                      (Linux 6.8+): one region per run of pages;
 *   PGC_TRACK_PAGEMAP  bit 55 of each /proc/PID/pagemap entry.
 *
 * Fault-point builds take PGCLONE_FAULT_SOFTDIRTY=pagemap to force the
 * second where the kernel has the first, so that tests reach both; and
 * PGCLONE_FAULT_SOFTDIRTY=emulate (or "emulate,pagemap") to stand in for
 * a kernel built without CONFIG_MEM_SOFT_DIRTY: arming then keeps a
 * 64-bit hash of every page the dump holds beside the record, and a page
 * whose bytes hash otherwise reads as written.  Tests only: it reads
 * every page twice, and it cannot see a write of the same bytes.
 *
 * The bit is the process's, not ours: anything else that writes
 * clear_refs (CRIU's pre-dump, a user, another pgclone) resets it, and no
 * one can tell afterwards.  What we can tell is our own dumps apart: each
 * one that arms tracking picks a random generation, writes it to a record
 * named after the source (boot id, pid, start time) in a private runtime
 * directory, and only then clears the bits.  A delta is taken only
 * against the image that carries the generation the record holds; a
 * sibling of an older image, or one whose dump failed after it cleared,
 * is refused.  See pgclone(1), WRITTEN-PAGE TRACKING.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgcloneP.h"
#include "uffdwp.h"

/* <linux/fs.h> of Linux 6.8; Debian 12's headers predate it. */
struct pgc_sd_region {
	uint64_t start, end, categories;
};

struct pgc_sd_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};

#define PGC_SD_PAGEMAP_SCAN _IOWR('f', 16, struct pgc_sd_scan_arg)
#define PGC_SD_PAGE_IS_PRESENT (1ULL << 3)

#define RECORD_LEN 17			/* 16 hex digits and a newline */

/* PGCLONE_FAULT_SOFTDIRTY=emulate: at the end of the file */
static bool emulating(void);
static int emul_load(struct pgc_track *t);
static int emul_save(struct pgc_track *t);

/* A page of our own, written: does pagemap say so (bit 55)? */
static bool soft_dirty_kept(void)
{
	volatile char *p;
	uint64_t e = 0;
	int fd;

	p = mmap(NULL, PGC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	*p = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && pread(fd, &e, sizeof(e),
			     (off_t)((uintptr_t)p / PGC_PAGE_SIZE * 8)) != sizeof(e))
		e = 0;
	if (fd >= 0)
		close(fd);
	munmap((void *)p, PGC_PAGE_SIZE);
	return e & PM_SOFT_DIRTY;
}

int pgc_track_supported(void)
{
	volatile char *p;
	uint64_t e = 0;
	int fd, ret;

	if (emulating())
		return 0;
	p = mmap(NULL, PGC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return pgc_fail(-ENOMEM, "out of memory probing soft-dirty tracking");
	*p = 1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ret = fd >= 0 && pread(fd, &e, sizeof(e),
			       (off_t)((uintptr_t)p / PGC_PAGE_SIZE * 8)) == sizeof(e);
	if (fd >= 0)
		close(fd);
	munmap((void *)p, PGC_PAGE_SIZE);
	if (!ret)
		return pgc_fail(-EIO, "cannot read /proc/self/pagemap to probe soft-dirty tracking");
	if (!(e & PM_SOFT_DIRTY))
		return pgc_fail(-EOPNOTSUPP, "this kernel keeps no soft-dirty bits (no CONFIG_MEM_SOFT_DIRTY): written pages cannot be tracked with them");
	return 0;
}

bool pgc_track_scan_works(int pagemap_fd)
{
	struct pgc_sd_region r;
	struct pgc_sd_scan_arg arg = {
		.size = sizeof(arg),
		.vec = (uintptr_t)&r, .vec_len = 1,
		.return_mask = PGC_SD_PAGE_IS_PRESENT | PGC_PAGE_IS_SOFT_DIRTY,
	};

#ifdef PGCLONE_FAULT_POINTS
	const char *how = getenv("PGCLONE_FAULT_SOFTDIRTY");

	if (how && strstr(how, "pagemap"))
		return false;
#endif
	/* a kernel that does not know the category says EINVAL, not 0 */
	arg.start = PGC_PAGE_DOWN((uintptr_t)&r);
	arg.end = arg.start + PGC_PAGE_SIZE;
	return ioctl(pagemap_fd, PGC_SD_PAGEMAP_SCAN, &arg) >= 0;
}

/* Where the records live: private to the user who dumps. */
static int runtime_dir(char *out, size_t len, bool quiet)
{
	const char *dir = getenv("PGCLONE_RUNTIME_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (dir && dir[0] == '/')
		snprintf(out, len, "%s", dir);
	else if (geteuid() == 0)
		snprintf(out, len, "/run/pgclone");
	else if (xdg && xdg[0] == '/')
		snprintf(out, len, "%s/pgclone", xdg);
	else if (quiet)
		return -EOPNOTSUPP;
	else
		return pgc_fail(-EOPNOTSUPP, "no runtime directory to keep the tracking record in (set XDG_RUNTIME_DIR or PGCLONE_RUNTIME_DIR)");
	return 0;
}

/*
 * The record of @id (boot id, pid, start time) in the runtime directory,
 * open for reading and writing, created empty when missing.  The directory
 * is made 0700 and must be ours and closed to others: whoever can write a
 * record can make a delta miss pages.
 */
static int open_record_how(const char *id, const char *suffix, bool create)
{
	char dir[512];
	struct stat sb;
	int dfd, fd, ret;

	ret = runtime_dir(dir, sizeof(dir), !create);
	if (ret)
		return create ? ret : -ENOENT;
	/* a peek: no directory, no record, nothing to say */
	if (!create && access(dir, F_OK))
		return -ENOENT;
	if (create && mkdir(dir, 0700) && errno != EEXIST)
		return pgc_fail(-EPERM, "cannot create the tracking record directory %s: %s",
				dir, strerror(errno));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return pgc_fail(-EPERM, "cannot open the tracking record directory %s: %s",
				dir, strerror(errno));
	if (fstat(dfd, &sb) || sb.st_uid != geteuid() || (sb.st_mode & 022)) {
		close(dfd);
		return pgc_fail(-EPERM, "the tracking record directory %s is not private to this user",
				dir);
	}
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s%s", id, suffix);
	fd = openat(dfd, strrchr(dir, '/') + 1,
		    O_RDWR | (create ? O_CREAT : 0) | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && !create) {
		close(dfd);
		return -ENOENT;
	}
	if (fd < 0)
		ret = pgc_fail(-EPERM, "cannot open the tracking record %s: %s", dir,
			       strerror(errno));
	close(dfd);
	return fd < 0 ? ret : fd;
}

static int open_record(const char *id, const char *suffix)
{
	return open_record_how(id, suffix, true);
}

static uint64_t read_record(int fd)
{
	char buf[RECORD_LEN + 1] = { 0 };
	char *end;
	uint64_t g;

	if (pread(fd, buf, RECORD_LEN, 0) != RECORD_LEN || buf[16] != '\n')
		return 0;
	buf[16] = '\0';
	g = strtoull(buf, &end, 16);
	return *end ? 0 : g;
}

/*
 * Soft-dirty where the kernel keeps it, else uffd-wp where it has that,
 * unless @method says which; one line saying why when neither can be had.
 */
static int choose(struct pgc_track *t, enum pgclone_track_method method)
{
	/* auto asks quietly: a fallback is no error for the log */
	if (method == PGCLONE_TRACK_SOFT_DIRTY || (!method && (emulating() || soft_dirty_kept()))) {
		t->mode = PGC_TRACK_SOFT_DIRTY;
		return pgc_track_supported();
	}
	if (method == PGCLONE_TRACK_UFFD_WP || pgc_uffdwp_available()) {
		t->mode = PGC_TRACK_UFFD_WP;
		return pgc_uffdwp_supported();
	}
	return pgc_fail(-EOPNOTSUPP, "this kernel tracks written pages neither by soft-dirty bits (no CONFIG_MEM_SOFT_DIRTY) nor by uffd-wp's asynchronous mode (Linux 6.7+): --track, --parent and --live cannot work");
}

/* The target's userfaultfd the record names: descriptor and inode. */
static void read_uffd_record(struct pgc_track *t)
{
	char buf[64];
	ssize_t n = pread(t->uffd_rec, buf, sizeof(buf), 0);
	int fd;

	t->uffd_recorded = -1;
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    !pgc_uffdwp_parse_record(buf, (size_t)n, &fd, &t->uffd_ino))
		t->uffd_recorded = fd;
}

/* uffd-wp: the target's userfaultfd, if it is still there and ours. */
static int check_uffd(struct pgc_track *t, pid_t pid)
{
	struct pgc_vma_list maps = { 0 };
	int ret = pgc_maps_read(pid, &maps);

	if (!ret)
		ret = pgc_uffdwp_check(pid, t->uffd_recorded, t->uffd_ino, &maps);
	pgc_maps_free(&maps);
	if (!ret)
		t->uffd_fd = t->uffd_recorded;
	return ret == -ENOENT ? 0 : ret;
}

int pgc_track_open(struct pgc_track *t, pid_t pid, uint64_t start_time,
		   uint64_t boot_hi, uint64_t boot_lo, enum pgclone_track_method method)
{
	char path[64], id[96];
	int ret;

	memset(t, 0, sizeof(*t));
	t->clear_refs = t->record = t->emul_fd = t->uffd_rec = -1;
	t->uffd_recorded = t->uffd_fd = -1;
	ret = choose(t, method);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	t->clear_refs = t->mode == PGC_TRACK_SOFT_DIRTY ? pgc_proc_open(path, O_WRONLY) : 0;
	if (t->clear_refs < 0)
		return pgc_fail(errno == ENOENT ? -ESRCH : -EPERM,
				"cannot open %s to arm written-page tracking: %s", path,
				strerror(errno));
	if (t->mode != PGC_TRACK_SOFT_DIRTY)
		t->clear_refs = -1;
	snprintf(id, sizeof(id), "track-%016llx%016llx-%d-%llu",
		 (unsigned long long)boot_hi, (unsigned long long)boot_lo, (int)pid,
		 (unsigned long long)start_time);
	ret = open_record(id, "");
	if (ret >= 0) {
		t->record = ret;
		t->generation = read_record(t->record);
		ret = open_record(id, ".uffd");
	}
	if (ret >= 0) {
		t->uffd_rec = ret;
		read_uffd_record(t);
		ret = t->mode == PGC_TRACK_UFFD_WP ? check_uffd(t, pid) : 0;
	}
	if (ret >= 0)
		/* the stand-in is soft-dirty's: uffd-wp is the kernel's own */
		ret = emulating() && t->mode == PGC_TRACK_SOFT_DIRTY ?
		      open_record(id, ".emulated") : 0;
	if (ret > 0) {
		t->emul_fd = ret;
		ret = emul_load(t);
		if (ret)
			ret = pgc_fail(ret, "cannot read the emulated soft-dirty state");
	}
	if (ret < 0)
		pgc_track_close(t);
	return ret < 0 ? ret : 0;
}

int pgc_track_peek(struct pgc_track *t, pid_t pid, uint64_t start_time,
		   uint64_t boot_hi, uint64_t boot_lo)
{
	char id[96];
	int ret;

	memset(t, 0, sizeof(*t));
	t->clear_refs = t->record = t->emul_fd = t->uffd_rec = -1;
	t->uffd_recorded = t->uffd_fd = -1;
	snprintf(id, sizeof(id), "track-%016llx%016llx-%d-%llu",
		 (unsigned long long)boot_hi, (unsigned long long)boot_lo, (int)pid,
		 (unsigned long long)start_time);
	ret = open_record_how(id, ".uffd", false);
	if (ret < 0) {
		pgc_clear_error();
		return 0;
	}
	t->uffd_rec = ret;
	read_uffd_record(t);
	ret = t->uffd_recorded >= 0 ? open_record_how(id, "", false) : -ENOENT;
	if (ret >= 0) {
		t->record = ret;
		t->mode = PGC_TRACK_UFFD_WP;
		ret = check_uffd(t, pid);
	}
	/* anything amiss: not ours to end, and the dump reads as ever */
	if (ret < 0 || t->uffd_fd < 0) {
		pgc_clear_error();
		pgc_track_close(t);
	}
	return 0;
}

int pgc_track_end(struct pgc_track *t)
{
	static const char none[RECORD_LEN + 1] = "0000000000000000\n";

	t->uffd_fd = -1;
	t->generation = 0;
	if (pwrite(t->record, none, RECORD_LEN, 0) != RECORD_LEN)
		return pgc_fail(-EIO, "cannot write the tracking record: %s", strerror(errno));
	return pgc_track_note_uffd(t);
}

int pgc_track_note_uffd(struct pgc_track *t)
{
	char buf[64];
	int len = t->uffd_fd < 0 ? 0 :
		  snprintf(buf, sizeof(buf), "%d %llu\n", t->uffd_fd,
			   (unsigned long long)t->uffd_ino);

	if (ftruncate(t->uffd_rec, 0) ||
	    (len && pwrite(t->uffd_rec, buf, (size_t)len, 0) != len))
		return pgc_fail(-EIO, "cannot write the tracking record: %s", strerror(errno));
	return 0;
}

int pgc_track_arm(struct pgc_track *t, uint64_t generation)
{
	char buf[RECORD_LEN + 1];

	/*
	 * The record first: once it names a generation no image has, no
	 * older image is a parent any more, whatever happens next.
	 */
	snprintf(buf, sizeof(buf), "%016llx\n", (unsigned long long)generation);
	if (pwrite(t->record, buf, RECORD_LEN, 0) != RECORD_LEN)
		return pgc_fail(-EIO, "cannot write the tracking record: %s", strerror(errno));
	if (t->mode == PGC_TRACK_UFFD_WP) {
		/* the caller write-protects: pgc_uffdwp_arm() */
	} else if (t->emul_fd >= 0) {
		int ret = emul_save(t);

		if (ret)
			return ret;
	} else if (write(t->clear_refs, "4", 1) != 1) {
		return pgc_fail(-EIO, "cannot clear the soft-dirty bits of the source: %s",
				strerror(errno));
	}
	t->generation = generation;
	/* soft-dirty now: the userfaultfd the record named tracks nothing */
	if (t->mode == PGC_TRACK_SOFT_DIRTY && t->uffd_recorded >= 0) {
		t->uffd_fd = -1;
		return pgc_track_note_uffd(t);
	}
	return 0;
}

void pgc_track_close(struct pgc_track *t)
{
	if (t->clear_refs >= 0)
		close(t->clear_refs);
	if (t->record >= 0)
		close(t->record);
	if (t->emul_fd >= 0)
		close(t->emul_fd);
	if (t->uffd_rec >= 0)
		close(t->uffd_rec);
	t->clear_refs = t->record = t->emul_fd = t->uffd_rec = -1;
	free(t->old);
	free(t->new);
	t->old = t->new = NULL;
	t->n_old = t->n_new = t->cap_new = 0;
}

/* ---- tests: soft-dirty emulated by the pages' bytes ----------------- */

struct pgc_track_page {
	uint64_t addr, hash;
};

static bool emulating(void)
{
#ifdef PGCLONE_FAULT_POINTS
	const char *how = getenv("PGCLONE_FAULT_SOFTDIRTY");

	return how && strstr(how, "emulate");
#else
	return false;
#endif
}

bool pgc_track_emulated(const struct pgc_track *t)
{
	return t->emul_fd >= 0;
}

static uint64_t page_hash(const void *page)
{
	const uint8_t *p = page;
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (size_t i = 0; i < PGC_PAGE_SIZE; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

bool pgc_track_emul_dirty(const struct pgc_track *t, uint64_t addr,
			  const void *page)
{
	size_t lo = 0, hi = t->n_old;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->old[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == t->n_old || t->old[lo].addr != addr ||
	       t->old[lo].hash != page_hash(page);
}

int pgc_track_emul_note(struct pgc_track *t, uint64_t addr, const void *page)
{
	if (t->n_new == t->cap_new) {
		size_t cap = t->cap_new ? 2 * t->cap_new : 1024;
		struct pgc_track_page *n = realloc(t->new, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->new = n;
		t->cap_new = cap;
	}
	t->new[t->n_new++] = (struct pgc_track_page){ addr, page_hash(page) };
	return 0;
}

static int emul_load(struct pgc_track *t)
{
	struct stat sb;
	ssize_t n;

	if (fstat(t->emul_fd, &sb))
		return -EIO;
	t->n_old = (size_t)sb.st_size / sizeof(*t->old);
	t->old = malloc(t->n_old ? t->n_old * sizeof(*t->old) : 1);
	if (!t->old)
		return -ENOMEM;
	n = pread(t->emul_fd, t->old, t->n_old * sizeof(*t->old), 0);
	return n == (ssize_t)(t->n_old * sizeof(*t->old)) ? 0 : -EIO;
}

static int emul_save(struct pgc_track *t)
{
	size_t len = t->n_new * sizeof(*t->new);

	if (ftruncate(t->emul_fd, 0) ||
	    (len && pwrite(t->emul_fd, t->new, len, 0) != (ssize_t)len))
		return pgc_fail(-EIO, "cannot write the emulated soft-dirty state");
	return 0;
}

/*
 * A live dump arms again and again in one process: what was noted for
 * the arm just done becomes what the next scan compares with, as a new
 * pgc_track_open() would load it.
 */
void pgc_track_emul_rotate(struct pgc_track *t)
{
	free(t->old);
	t->old = t->new;
	t->n_old = t->n_new;
	t->new = NULL;
	t->n_new = t->cap_new = 0;
}
