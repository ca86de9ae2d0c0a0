// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * parser.c - read an image in a child process that holds nothing else.
 *
 * restore is the one operation that reads untrusted bytes while holding
 * what it needs to change another process: capabilities, a seized
 * target, a seccomp filter broad enough for that work.  So it reads none
 * of them itself.  A child, forked before anything else is opened, keeps
 * only the image, a pipe for what it found and a pipe for its verdict;
 * the caller confines it (pgclone(1) drops every capability and allows
 * read, write, its own memory and exit); and it does all the parsing:
 * the header, the protobuf manifest and its checks, every data checksum
 * and the trailer.
 *
 * Down the first pipe it sends the manifest flattened into fixed-layout
 * records (struct wire_*), then the data area.  The data goes through a
 * ring of memory the two share (forked with it, its alone): the child
 * reads the image into it and checksums the bytes there, then says how
 * many it added; the library copies them out to the target and says how
 * many it took.  So each byte is copied twice (image to ring, ring to
 * target), as cat copies it, where a pipe between the two added two more;
 * and what reaches the target is what the child checksummed, since only
 * the child writes the ring.  A compressed image's data, and any image's
 * without a ring (no memfd), comes down the pipe itself.  Down the second pipe, once it is done, one
 * verdict.  A compressed image is inflated
 * here too (data.c, zstd.c): the library only ever sees raw bytes, as
 * many as the manifest says.  The library decodes the records
 * with a bounds check on every field and runs the manifest checks again
 * on the result: a child that a hostile image took over can lie about the
 * data, which the image's author chooses anyway, but cannot make the
 * library misplace it or read past a buffer: every count it sends is
 * checked to keep the library's reads inside the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../pgcloneP.h"
#include "image.h"

#define WIRE_MAGIC 0x70676377u		/* "wcgp" */
#define WIRE_VERDICT 0x70676376u	/* "vcgp" */
#define WIRE_MAX_STR 4096u		/* a name or a path, with its NUL */
#define WIRE_MAX_PLAN (8ull * PGC_IMG_MAX_MANIFEST)

struct wire_head {
	uint32_t magic;
	uint32_t has_pid;
	int32_t pid;
	uint32_t pad;
	struct pgc_img_header h;
	uint64_t nr_ranges, nr_extents;
	uint64_t plan_len;		/* bytes of records that follow */
	uint64_t id_hi, id_lo;		/* WIRE_HAS_ID: the image's id */
	uint64_t parent_hi, parent_lo;	/* WIRE_HAS_PARENT: a delta's parent */
	uint32_t parent_crc;		/* ... and its manifest's crc32c */
	uint32_t flags;			/* WIRE_HAS_* */
	uint32_t live_round;		/* WIRE_HAS_LIVE: a round of a live stream */
	uint32_t live_final;		/* ... and whether it is the last */
	uint32_t pad2;
	char arch[PGC_IMG_MAX_ARCH];
};

#define WIRE_HAS_ID	1u
#define WIRE_HAS_PARENT	2u
#define WIRE_HAS_LIVE	4u

#define WIRE_SRC_START	1u
#define WIRE_SRC_END	2u
#define WIRE_FILE	4u

struct wire_range {
	uint64_t start, end, src_start, src_end;
	uint64_t dev, ino, offset;
	uint32_t prot, kind, advice, flags;
	uint32_t name_len, path_len;	/* bytes that follow, NUL included */
};

struct wire_extent {
	uint64_t offset, nr_pages, data_off;
	uint32_t range, kind, anon, pad;
};

struct wire_verdict {
	uint32_t magic;
	int32_t err;
	char msg[512];
};

/* ---- the child ------------------------------------------------------ */

static size_t str_len(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static int plan_size(const Pgclone__Manifest *m, uint64_t *len)
{
	uint64_t n = m->n_extents * sizeof(struct wire_extent);

	for (size_t i = 0; i < m->n_ranges; i++) {
		const Pgclone__Range *r = m->ranges[i];
		size_t name = str_len(r->name);
		size_t path = r->file ? str_len(r->file->path) : 0;

		if (name > WIRE_MAX_STR || path > WIRE_MAX_STR)
			return pgc_fail(-EPROTO, "image range %zu has a name or path longer than %u bytes",
					i, WIRE_MAX_STR - 1);
		n += sizeof(struct wire_range) + name + path;
	}
	*len = n;
	return 0;
}

static void put(uint8_t **p, const void *v, size_t n)
{
	memcpy(*p, v, n);
	*p += n;
}

static void flatten_range(uint8_t **p, const Pgclone__Range *r)
{
	const Pgclone__FileIdentity *f = r->file;
	struct wire_range w = {
		.start = r->start, .end = r->end,
		.src_start = r->src_start, .src_end = r->src_end,
		.prot = r->prot, .kind = (uint32_t)r->kind, .advice = r->advice,
		.flags = (r->has_src_start ? WIRE_SRC_START : 0) |
			 (r->has_src_end ? WIRE_SRC_END : 0) | (f ? WIRE_FILE : 0),
		.name_len = (uint32_t)str_len(r->name),
		.path_len = f ? (uint32_t)str_len(f->path) : 0,
	};

	if (f) {
		w.dev = f->dev;
		w.ino = f->ino;
		w.offset = f->offset;
	}
	put(p, &w, sizeof(w));
	if (w.name_len)
		put(p, r->name, w.name_len);
	if (w.path_len)
		put(p, f->path, w.path_len);
}

int pgc_img_wire_encode(const struct pgc_img *img, uint8_t **out, size_t *len)
{
	const Pgclone__Manifest *m = img->m;
	struct wire_head head = {
		.magic = WIRE_MAGIC,
		.has_pid = m->source->has_pid,
		.pid = m->source->pid,
		.h = img->h,
		.nr_ranges = m->n_ranges,
		.nr_extents = m->n_extents,
	};
	uint8_t *buf, *p;
	int ret;

	if (m->source->arch)
		snprintf(head.arch, sizeof(head.arch), "%s", m->source->arch);
	if (m->has_id_hi && m->has_id_lo) {
		head.flags |= WIRE_HAS_ID;
		head.id_hi = m->id_hi;
		head.id_lo = m->id_lo;
	}
	if (m->parent) {		/* checked: it has all three */
		head.flags |= WIRE_HAS_PARENT;
		head.parent_hi = m->parent->id_hi;
		head.parent_lo = m->parent->id_lo;
		head.parent_crc = m->parent->manifest_crc;
	}
	if (m->live) {			/* checked: it has its round */
		head.flags |= WIRE_HAS_LIVE;
		head.live_round = m->live->round;
		head.live_final = !!m->live->final;
	}
	ret = plan_size(m, &head.plan_len);
	if (ret)
		return ret;
	buf = malloc(sizeof(head) + head.plan_len);
	if (!buf)
		return pgc_fail(-ENOMEM, "out of memory flattening the manifest");
	p = buf;
	put(&p, &head, sizeof(head));
	for (size_t i = 0; i < m->n_ranges; i++)
		flatten_range(&p, m->ranges[i]);
	for (size_t i = 0; i < m->n_extents; i++) {
		const Pgclone__Extent *e = m->extents[i];
		struct wire_extent w = {
			.offset = e->offset, .nr_pages = e->nr_pages,
			.data_off = e->data_off, .range = e->range,
			.kind = (uint32_t)e->kind, .anon = e->anon,
		};

		put(&p, &w, sizeof(w));
	}
	*out = buf;
	*len = (size_t)(p - buf);
	return 0;
}

static int send_plan(int out, const struct pgc_img *img)
{
	uint8_t *buf;
	size_t len;
	int ret = pgc_img_wire_encode(img, &buf, &len);

	if (ret)
		return ret;
	ret = pgc_img_write_full(out, buf, len);
	free(buf);
	return ret;
}

static int send_raw(void *ctx, const void *buf, size_t len)
{
	return pgc_img_write_full(*(int *)ctx, buf, len);
}

/* The child's end of the ring (struct pgc_img_parser says how it goes). */
struct child_ring {
	char *ring;
	size_t len;
	uint64_t produced, released;
	uint64_t unsent;		/* produced, not yet said */
	int data, release;
};

static int ring_flush(struct child_ring *r)
{
	uint64_t n = r->unsent;

	r->unsent = 0;
	return n ? pgc_img_write_full(r->data, &n, sizeof(n)) : 0;
}

/* Room for @len bytes at the ring's head, once the library has taken
 * enough of what is there. */
static int ring_get(void *ctx, size_t len, void **buf)
{
	struct child_ring *r = ctx;

	while (r->produced - r->released + len > r->len) {
		uint64_t took[64];
		ssize_t n;
		int err = ring_flush(r);	/* all of it, before waiting */

		if (err)
			return err;
		n = read(r->release, took, sizeof(took));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || n % sizeof(took[0]))
			return pgc_fail(-EIO, "the restorer stopped taking the image's data");
		for (size_t i = 0; i < (size_t)n / sizeof(took[0]); i++)
			r->released += took[i];
		if (r->released > r->produced)
			return pgc_fail(-EIO, "the restorer took more than there was");
	}
	*buf = r->ring + r->produced % r->len;
	return 0;
}

/* @len bytes, read and checksummed at the ring's head: the library's. */
static int ring_put(void *ctx, const void *buf, size_t len)
{
	struct child_ring *r = ctx;

	/* said a slice at a time: a sparse image's small blocks would
	 * otherwise wake the library once each */
	r->produced += len;
	r->unsent += len;
	return r->unsent >= PGC_IMG_SLICE ? ring_flush(r) : 0;
}

static void send_verdict(int out, int err)
{
	struct wire_verdict v = { .magic = WIRE_VERDICT, .err = err };

	if (err)
		snprintf(v.msg, sizeof(v.msg), "%s", pgclone_last_error());
	(void)!write(out, &v, sizeof(v));	/* atomic: less than PIPE_BUF */
}

/*
 * Stored data goes through the ring, a slice at a time.  A compressed
 * image's blocks inflate whole, up to PGC_IMG_CHUNK, more than the ring
 * can lend while the library holds what it takes at once: those take
 * the pipe.  Both sides decide from the same header.
 */
static bool ring_for(const struct pgc_img_parser *p, const struct pgc_img *img)
{
	return p->ring && !(img->h.incompat & PGC_IMG_INCOMPAT_ZSTD);
}

#define NR_KEEP 4

/* Close every descriptor but @keep (sorted here; -1: none). */
static int keep_only(int keep[NR_KEEP])
{
	unsigned int from = 0;

	for (int i = 0; i < NR_KEEP; i++)
		for (int j = i + 1; j < NR_KEEP; j++)
			if (keep[j] < keep[i]) {
				int t = keep[i];

				keep[i] = keep[j];
				keep[j] = t;
			}
	for (int i = 0; i < NR_KEEP; i++) {
		if (keep[i] < 0)
			continue;
		if ((unsigned int)keep[i] > from &&
		    close_range(from, (unsigned int)keep[i] - 1, 0))
			return -errno;
		from = (unsigned int)keep[i] + 1;
	}
	return close_range(from, ~0u, 0) ? -errno : 0;
}

static void __attribute__((noreturn))
parser_child(pid_t parent, int in, int data, int verdict,
	     const struct pgc_img_parser *p, int release)
{
	const struct pgc_request *req = p->req;
	int keep[NR_KEEP] = { in, data, verdict, release };
	struct child_ring ring = { .ring = p->ring, .len = p->ring_len,
				   .data = data, .release = release };
	struct pgc_img_sink piped = { .put = send_raw, .ctx = &data };
	struct pgc_img_sink shared = { .get = ring_get, .put = ring_put,
				       .ctx = &ring };
	struct pgc_img img;
	int ret;

	/* the library's caller gets one report, from the parent */
	pgclone_set_log(NULL, NULL, PGCLONE_LOG_ERROR);
	pgc_clear_error();
	signal(SIGINT, SIG_IGN);	/* the parent decides, and kills us */
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1);
	ret = keep_only(keep);
	if (ret)
		ret = pgc_fail(ret, "cannot close the image parser's descriptors");
	if (!ret && req->confine && req->confine(req->progress_ctx))
		ret = pgc_fail(-EPERM, "cannot confine the image parser");
	pgc_img_set_input_timeout(req->input_timeout_ms);
	if (!ret)
		ret = pgc_img_read_head(in, &img);
	if (!ret) {
		ret = send_plan(data, &img);
		if (!ret)
			ret = pgc_img_read_data(in, &img, ring_for(p, &img) ?
						&shared : &piped, NULL);
		if (!ret && ring_for(p, &img))
			ret = ring_flush(&ring);
		pgc_img_free(&img);
	}
	send_verdict(verdict, ret);
	_exit(0);
}

/* ---- the library's side --------------------------------------------- */

static const int child_errors[] = {
	-EPROTO, -EIO, -ENOMEM, -EINVAL, -EOPNOTSUPP, -EPERM, -ETIMEDOUT,
};

/* How often a wait for the parser asks the caller whether to stop. */
#define CANCEL_POLL_MS 200

/*
 * Wait until @fd (a pipe from the child) has something to read.  The
 * caller's progress callback is asked before the first wait and then
 * every CANCEL_POLL_MS: the library installs no signal handler, and a
 * signal that arrives just before a blocking read() would otherwise be
 * seen by nobody while the image's writer stalls.  The child itself is
 * never asked; stop() kills it.
 */
static int wait_for_child(struct pgc_img_parser *p, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		int n;

		if (p->req && pgc_cancelled(p->req, 0, 0))
			return pgc_fail(-EINTR, "interrupted while waiting for the image");
		n = poll(&pfd, 1, CANCEL_POLL_MS);
		if (n > 0 || (n < 0 && errno != EINTR))
			return 0;	/* readable, or read() says why not */
	}
}

/* A message from the child is shown to the user: printable bytes only. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static int reap(struct pgc_img_parser *p, int *status)
{
	pid_t w;

	if (p->pid <= 0)
		return -1;
	while ((w = waitpid(p->pid, status, 0)) < 0 && errno == EINTR)
		;
	p->pid = 0;
	return w > 0 ? 0 : -1;
}

/*
 * The child stopped sending, or is done: its verdict says how it went.
 * Returns 0 only for a verdict of success.
 */
static int verdict(struct pgc_img_parser *p)
{
	struct wire_verdict v;
	size_t got = 0;
	int status = 0;

	while (got < sizeof(v)) {
		ssize_t n;
		int err = wait_for_child(p, p->verdict);

		if (err)
			return err;
		n = read(p->verdict, (char *)&v + got, sizeof(v) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == sizeof(v) && v.magic == WIRE_VERDICT) {
		reap(p, &status);
		if (!v.err)
			return 0;
		v.msg[sizeof(v.msg) - 1] = '\0';
		printable(v.msg);
		if (pgc_err_in(v.err, child_errors, ARRAY_SIZE(child_errors)))
			return pgc_fail(v.err, "%s", v.msg);
		return pgc_fail(-EPROTO, "%s", v.msg);
	}
	if (reap(p, &status) || !WIFSIGNALED(status))
		return pgc_fail(-EIO, "the image parser exited without a verdict");
	return pgc_fail(-EIO, "the image parser was killed by signal %d (%s)%s",
			WTERMSIG(status), strsignal(WTERMSIG(status)),
			WTERMSIG(status) == SIGSYS ? ": its sandbox stopped it" : "");
}

int pgc_img_parser_read(struct pgc_img_parser *p, void *buf, size_t len)
{
	char *c = buf;

	while (len) {
		ssize_t n;
		int err = wait_for_child(p, p->data);

		if (err)
			return err;
		n = read(p->data, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int ret = verdict(p);

			return ret ? ret : pgc_fail(-EPROTO, "the image parser sent less than the image holds");
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Counts from the child until @len bytes wait in the ring. */
static int ring_wait(struct pgc_img_parser *p, size_t len)
{
	while (p->produced - p->consumed < len) {
		uint8_t buf[64 * sizeof(uint64_t)];
		ssize_t n;
		size_t at = 0;
		int err = wait_for_child(p, p->data);

		if (err)
			return err;
		memcpy(buf, p->part, p->npart);
		n = read(p->data, buf + p->npart, sizeof(buf) - p->npart);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int ret = verdict(p);

			return ret ? ret : pgc_fail(-EPROTO, "the image parser sent less than the image holds");
		}
		n += (ssize_t)p->npart;
		for (; (size_t)n - at >= sizeof(uint64_t); at += sizeof(uint64_t)) {
			uint64_t add;

			memcpy(&add, buf + at, sizeof(add));
			/* never more than the ring holds: what it says is
			 * where we read, and that must stay in it */
			if (!add || add > p->ring_len ||
			    p->produced + add - p->consumed > p->ring_len)
				return pgc_fail(-EPROTO, "the image parser sent a malformed count of %llu bytes",
						(unsigned long long)add);
			p->produced += add;
		}
		p->npart = (size_t)n - at;
		memcpy(p->part, buf + at, p->npart);
	}
	return 0;
}

int pgc_img_parser_data(struct pgc_img_parser *p, void *buf, size_t len,
			void **at)
{
	int ret;

	if (!p->ring) {
		*at = buf;
		return pgc_img_parser_read(p, buf, len);
	}
	if (len > pgc_img_parser_max(p))
		return pgc_fail(-EINVAL, "%zu bytes at once do not fit the image ring", len);
	ret = ring_wait(p, len);
	if (!ret)
		*at = p->ring + p->consumed % p->ring_len;
	return ret;
}

size_t pgc_img_parser_max(const struct pgc_img_parser *p)
{
	return p->ring ? p->ring_len / 2 : PGC_IMG_CHUNK;
}

int pgc_img_parser_done(struct pgc_img_parser *p, size_t len)
{
	uint64_t n = len;
	struct iovec iov = { &n, sizeof(n) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t w;

	if (!p->ring || !len)
		return 0;
	p->consumed += len;
	/* a child that is gone is no reason to die of SIGPIPE: its verdict
	 * (or its absence) says what happened */
	while ((w = sendmsg(p->release, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return 0;
}

int pgc_img_parser_finish(struct pgc_img_parser *p)
{
	return verdict(p);
}

/*
 * The ring: a memfd mapped twice, back to back, in a reservation of
 * twice its size.  Shared with the child by fork.  Any failure (a
 * caller's seccomp filter without memfd_create, no memory) leaves the
 * parser on the data pipe, which is slower and as safe.
 */
#define RING_LEN (2u << 20)

static void ring_free(struct pgc_img_parser *p)
{
	if (!p->ring)
		return;
	munmap(p->ring, 2 * p->ring_len);
	p->ring = NULL;
	if (p->release >= 0)
		close(p->release);
	p->release = -1;
}

static int ring_new(struct pgc_img_parser *p, int release[2])
{
	int fd = -1;
	char *at;

#ifdef PGCLONE_FAULT_POINTS
	if (getenv("PGCLONE_FAULT_NO_RING"))	/* tests: the pipe's way */
		return -1;
#endif
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, release))
		return -1;
	fd = memfd_create("pgclone-image-ring", MFD_CLOEXEC);
	at = mmap(NULL, 2 * RING_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || at == MAP_FAILED || ftruncate(fd, RING_LEN) ||
	    mmap(at, RING_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0) == MAP_FAILED ||
	    mmap(at + RING_LEN, RING_LEN, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
		if (at != MAP_FAILED)
			munmap(at, 2 * RING_LEN);
		if (fd >= 0)
			close(fd);
		close(release[0]);
		close(release[1]);
		return -1;
	}
	close(fd);
	p->ring = at;
	p->ring_len = RING_LEN;
	return 0;
}

void pgc_img_parser_stop(struct pgc_img_parser *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		reap(p, &(int){ 0 });
	}
	ring_free(p);
	if (p->data >= 0)
		close(p->data);
	if (p->verdict >= 0)
		close(p->verdict);
	p->data = p->verdict = -1;
}

/* A cursor over the records, which never reads past them. */
struct cursor {
	uint8_t *p;
	size_t left;
};

static void *take(struct cursor *c, size_t n)
{
	void *at = c->p;

	if (n > c->left)
		return NULL;
	c->p += n;
	c->left -= n;
	return at;
}

/* A string of @len bytes ending in its NUL, or NULL when @len is 0. */
static int take_str(struct cursor *c, uint32_t len, char **s)
{
	char *at;

	*s = NULL;
	if (!len)
		return 0;
	if (len > WIRE_MAX_STR || !(at = take(c, len)) || at[len - 1])
		return -1;
	*s = at;
	return 0;
}

static int rebuild_range(struct pgc_img_flat *f, size_t i, struct cursor *c)
{
	Pgclone__Range *r = &f->ranges[i];
	Pgclone__FileIdentity *id = &f->files[i];
	struct wire_range w;
	void *at = take(c, sizeof(w));
	char *path;

	if (!at)
		return -1;
	memcpy(&w, at, sizeof(w));
	pgclone__range__init(r);
	if (take_str(c, w.name_len, &r->name) || take_str(c, w.path_len, &path) ||
	    (path && !(w.flags & WIRE_FILE)))
		return -1;
	r->has_start = r->has_end = r->has_prot = r->has_kind = r->has_advice = 1;
	r->start = w.start;
	r->end = w.end;
	r->prot = w.prot;
	r->kind = (Pgclone__Kind)w.kind;
	r->advice = w.advice;
	r->has_src_start = !!(w.flags & WIRE_SRC_START);
	r->has_src_end = !!(w.flags & WIRE_SRC_END);
	r->src_start = w.src_start;
	r->src_end = w.src_end;
	if (w.flags & WIRE_FILE) {
		pgclone__file_identity__init(id);
		id->path = path;
		id->has_dev = id->has_ino = id->has_offset = 1;
		id->dev = w.dev;
		id->ino = w.ino;
		id->offset = w.offset;
		r->file = id;
	}
	f->rptr[i] = r;
	return 0;
}

static int rebuild_extent(struct pgc_img_flat *f, size_t i, struct cursor *c)
{
	Pgclone__Extent *e = &f->ext[i];
	struct wire_extent w;
	void *at = take(c, sizeof(w));

	if (!at)
		return -1;
	memcpy(&w, at, sizeof(w));
	pgclone__extent__init(e);
	e->has_range = e->has_offset = e->has_nr_pages = e->has_kind = 1;
	e->has_data_off = e->has_anon = 1;
	e->range = w.range;
	e->offset = w.offset;
	e->nr_pages = w.nr_pages;
	e->kind = (Pgclone__ExtentKind)w.kind;
	e->data_off = w.data_off;
	e->anon = !!w.anon;
	f->eptr[i] = e;
	return 0;
}

static int rebuild(struct pgc_img *img, const struct wire_head *w,
		   struct pgc_img_flat *f, uint8_t *plan)
{
	struct cursor c = { plan, (size_t)w->plan_len };
	size_t nr = (size_t)w->nr_ranges, ne = (size_t)w->nr_extents;

	f->ranges = calloc(nr, sizeof(*f->ranges));
	f->rptr = calloc(nr, sizeof(*f->rptr));
	f->files = calloc(nr, sizeof(*f->files));
	f->ext = calloc(ne ? ne : 1, sizeof(*f->ext));
	f->eptr = calloc(ne ? ne : 1, sizeof(*f->eptr));
	if (!f->ranges || !f->rptr || !f->files || !f->ext || !f->eptr)
		return pgc_fail(-ENOMEM, "out of memory reading the manifest");
	for (size_t i = 0; i < nr; i++)
		if (rebuild_range(f, i, &c))
			return pgc_fail(-EPROTO, "the image parser sent a malformed range %zu", i);
	for (size_t i = 0; i < ne; i++)
		if (rebuild_extent(f, i, &c))
			return pgc_fail(-EPROTO, "the image parser sent a malformed extent %zu", i);
	if (c.left)
		return pgc_fail(-EPROTO, "the image parser sent %zu bytes past its records",
				c.left);
	pgclone__source__init(&f->src);
	f->src.has_page_size = 1;
	f->src.page_size = w->h.page_size;
	f->src.has_pid = !!w->has_pid;
	f->src.pid = w->pid;
	memcpy(f->arch, w->arch, sizeof(f->arch));
	f->arch[sizeof(f->arch) - 1] = '\0';
	f->src.arch = f->arch[0] ? f->arch : NULL;
	pgclone__manifest__init(&f->m);
	f->m.source = &f->src;
	f->m.n_ranges = nr;
	f->m.ranges = f->rptr;
	f->m.n_extents = ne;
	f->m.extents = f->eptr;
	f->m.has_id_hi = f->m.has_id_lo = !!(w->flags & WIRE_HAS_ID);
	f->m.id_hi = w->id_hi;
	f->m.id_lo = w->id_lo;
	if (w->flags & WIRE_HAS_PARENT) {
		pgclone__parent__init(&f->parent);
		f->parent.has_id_hi = f->parent.has_id_lo = 1;
		f->parent.has_manifest_crc = 1;
		f->parent.id_hi = w->parent_hi;
		f->parent.id_lo = w->parent_lo;
		f->parent.manifest_crc = w->parent_crc;
		f->m.parent = &f->parent;
	}
	if (w->flags & WIRE_HAS_LIVE) {
		pgclone__live__init(&f->live);
		f->live.has_round = f->live.has_final = 1;
		f->live.round = w->live_round;
		f->live.final = w->live_final;
		f->m.live = &f->live;
	}
	img->h = w->h;
	img->m = &f->m;
	img->flat = f;
	/* the child's checks, again, on what arrived */
	return pgc_img_check_manifest(&img->h, img->m, &img->nr_data);
}

static int check_head(const struct wire_head *w, size_t plan_len)
{
	if (w->magic != WIRE_MAGIC || !w->nr_ranges ||
	    (w->flags & ~(WIRE_HAS_ID | WIRE_HAS_PARENT | WIRE_HAS_LIVE)) ||
	    w->live_final > 1 || w->pad2 ||
	    w->nr_ranges > PGC_IMG_MAX_RANGES ||
	    w->nr_extents > PGC_IMG_MAX_EXTENTS || w->plan_len != plan_len ||
	    w->plan_len > WIRE_MAX_PLAN || w->h.page_size < 512 ||
	    w->h.page_size > (1u << 30) || (w->h.page_size & (w->h.page_size - 1)) ||
	    w->h.data_off % w->h.page_size)
		return pgc_fail(-EPROTO, "the image parser sent a malformed header");
	return 0;
}

int pgc_img_wire_decode(uint8_t *buf, size_t len, struct pgc_img *img)
{
	struct pgc_img_flat *f;
	struct wire_head w;
	int ret;

	memset(img, 0, sizeof(*img));
	if (len < sizeof(w)) {
		free(buf);
		return pgc_fail(-EPROTO, "the image parser sent a malformed header");
	}
	memcpy(&w, buf, sizeof(w));
	ret = check_head(&w, len - sizeof(w));
	f = ret ? NULL : calloc(1, sizeof(*f));
	if (!f) {
		free(buf);
		return ret ? ret : pgc_fail(-ENOMEM, "out of memory reading the manifest");
	}
	f->plan = buf;
	ret = rebuild(img, &w, f, buf + sizeof(w));
	if (ret && img->flat != f)
		pgc_img_flat_free(f);
	return ret;
}

/* The header and the flattened manifest, as the child sends them. */
static int receive_plan(struct pgc_img_parser *p, struct pgc_img *img)
{
	struct wire_head w;
	uint8_t *buf;
	int ret;

	ret = pgc_img_parser_read(p, &w, sizeof(w));
	if (ret)
		return ret;
	if (w.plan_len > WIRE_MAX_PLAN)		/* before allocating it */
		return pgc_fail(-EPROTO, "the image parser sent a malformed header");
	buf = malloc(sizeof(w) + (size_t)w.plan_len);
	if (!buf)
		return pgc_fail(-ENOMEM, "out of memory reading the manifest");
	memcpy(buf, &w, sizeof(w));
	ret = pgc_img_parser_read(p, buf + sizeof(w), (size_t)w.plan_len);
	if (ret) {
		free(buf);
		return ret;
	}
	return pgc_img_wire_decode(buf, sizeof(w) + (size_t)w.plan_len, img);
}

int pgc_img_parser_start(struct pgc_img_parser *p, int in,
			 const struct pgc_request *req, struct pgc_img *img)
{
	int data[2], verdict_pipe[2], release[2], err;
	pid_t parent = getpid();

	memset(img, 0, sizeof(*img));
	memset(p, 0, sizeof(*p));
	p->data = p->verdict = p->release = -1;
	p->req = req;
	if (pipe2(data, O_CLOEXEC))
		return pgc_fail(-errno, "cannot start the image parser: %s", strerror(errno));
	if (pipe2(verdict_pipe, O_CLOEXEC)) {
		close(data[0]);
		close(data[1]);
		return pgc_fail(-errno, "cannot start the image parser: %s", strerror(errno));
	}
	if (ring_new(p, release))
		release[0] = release[1] = -1;
	pgc_img_tune_fd(data[0]);
	p->pid = fork();
	err = errno;
	if (p->pid == 0)
		parser_child(parent, in, data[1], verdict_pipe[1], p, release[0]);
	close(data[1]);
	close(verdict_pipe[1]);
	p->data = data[0];
	p->verdict = verdict_pipe[0];
	if (release[0] >= 0)
		close(release[0]);
	p->release = release[1];
	/* this child's alone: no child forked later (another image's
	 * parser, a helper) gets it */
	if (p->ring)
		madvise(p->ring, 2 * p->ring_len, MADV_DONTFORK);
	if (p->pid < 0) {
		pgc_img_parser_stop(p);
		return pgc_fail(-err, "cannot start the image parser: %s", strerror(err));
	}
	err = receive_plan(p, img);
	if (!err && !ring_for(p, img))
		ring_free(p);		/* compressed: the child pipes it */
	return err;
}
