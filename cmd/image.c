// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * image.c - "pgclone dump", "restore", "show" and "verify": checkpoint
 * ranges of a process to an image file or pipe, and bring them back.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pgclone.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "cli.h"
#include "escape.h"
#include "outfile.h"
#include "strutils.h"

enum { OPT_ALL = 256, OPT_NO_FREEZE, OPT_REPLACE, OPT_STRICT, OPT_FORCE, OPT_TIMEOUT,
       OPT_SNAPSHOT, OPT_COMPRESS, OPT_PARENT, OPT_TRACK, OPT_UPDATE, OPT_TRACK_METHOD,
       OPT_LIVE, OPT_MAX_ROUNDS, OPT_MAX_DOWNTIME, OPT_LEAVE_STOPPED, OPT_PROGRESS,
       OPT_COMPRESS_THREADS };

struct image_args {
	pid_t pid;
	struct src_arg src;
	struct dst_arg dst;
	uint64_t len;
	bool all;
	const char *path;
	unsigned int flags;
	unsigned int timeout_ms;	/* --timeout: longest wait for input */
	bool compress;			/* --compress[=LEVEL] */
	int level;			/* 0: zstd's default */
	long threads;			/* --compress-threads (0: not given) */
	const char *parent;		/* dump --parent FILE */
	enum pgclone_engine engine;	/* dump --snapshot --engine */
	enum pgclone_track_method track;	/* dump --track-method */
	bool engine_given;
	/* dump --live */
	long max_rounds;		/* -2: not given */
	long max_downtime_ms;		/* 0: not given */
	bool progress;			/* --progress: a line per round */
	/* restore: every -i, base first; path is the last */
	const char *inputs[PGCLONE_MAX_CHAIN + 1];
	size_t n_inputs;
};

static const struct option image_longopts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "src", required_argument, NULL, 's' },
	{ "len", required_argument, NULL, 'l' },
	{ "dst", required_argument, NULL, 'd' },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "output", required_argument, NULL, 'o' },
	{ "input", required_argument, NULL, 'i' },
	{ "no-freeze", no_argument, NULL, OPT_NO_FREEZE },
	{ "snapshot", no_argument, NULL, OPT_SNAPSHOT },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "compress", optional_argument, NULL, OPT_COMPRESS },
	{ "compress-threads", required_argument, NULL, OPT_COMPRESS_THREADS },
	{ "parent", required_argument, NULL, OPT_PARENT },
	{ "track", no_argument, NULL, OPT_TRACK },
	{ "track-method", required_argument, NULL, OPT_TRACK_METHOD },
	{ "update", no_argument, NULL, OPT_UPDATE },
	{ "live", no_argument, NULL, OPT_LIVE },
	{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
	{ "max-downtime", required_argument, NULL, OPT_MAX_DOWNTIME },
	{ "leave-stopped", no_argument, NULL, OPT_LEAVE_STOPPED },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "engine", required_argument, NULL, 'e' },
	CLI_COMMON_LONGOPTS,
};

/*
 * --compress or --compress=LEVEL.  Only the number is checked here; the
 * library knows zstd's range and refuses a level outside it before the
 * source is touched or a file is kept.
 */
static int compress_option(const char *arg, struct image_args *a)
{
	char *end;
	long v;

	a->compress = true;
	if (!arg)
		return 0;
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < INT_MIN || v > INT_MAX)
		return errx_usage("--compress=%.40s: the level is a whole number (zstd's, e.g. 1 to 19)",
				  arg);
	if (!v)
		return errx_usage("--compress=0: give a level (zstd's, e.g. 1 to 19), or none for %d",
				  3);
	a->level = (int)v;
	return 0;
}

/* Parse the options of one image command; @allowed lists its letters. */
/* A whole number of @what in [lo, hi]: --max-rounds, --max-downtime, --compress-threads. */
static int count_option(const char *what, const char *arg, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi)
		return errx_usage("%s %.40s: give a whole number from %ld to %ld",
				  what, arg, lo, hi);
	*out = v;
	return 0;
}

/*
 * dump --live: the stream is complete before the library ends tracking
 * in the running source -- put it in place now, and end standard output
 * (its reader, e.g. ssh to "restore -i -", sees the end of the stream
 * without waiting for those stops).  -1: not called; else the exit
 * status of the commit.
 */
static struct outfile *live_out;
static int live_committed = -1;

static int live_complete_cb(void *ctx)
{
	(void)ctx;
	live_committed = outfile_commit(live_out);
	if (!live_committed && !strcmp(live_out->path, "-")) {
		close(STDOUT_FILENO);
		hold_closed_fd(STDOUT_FILENO);	/* /dev/null, not a reused fd */
	}
	return live_committed;
}

/* dump --live: every round as the library reports it, for --json. */
static struct pgclone_live_round live_rounds[PGCLONE_LIVE_MAX_ROUNDS + 1];
static size_t n_live_rounds;

static void live_round_cb(void *ctx, const struct pgclone_live_round *r)
{
	if (n_live_rounds < sizeof(live_rounds) / sizeof(live_rounds[0]))
		live_rounds[n_live_rounds++] = *r;
	live_progress(ctx, r);
}

static void live_json(struct json *j)
{
	uint64_t bytes = 0;

	json_open_array(j, "rounds");
	for (size_t i = 0; i < n_live_rounds; i++) {
		const struct pgclone_live_round *r = &live_rounds[i];

		bytes += r->bytes;
		json_open(j, NULL);
		json_u64(j, "round", r->round);
		json_bool(j, "final", r->final);
		json_u64(j, "pages", r->pages);
		json_u64(j, "bytes", r->bytes);
		json_double(j, "elapsed_ms", (double)r->elapsed_ns / 1e6);
		json_double(j, "stopped_ms", (double)r->stopped_ns / 1e6);
		json_double(j, "scan_ms", (double)r->scan_ns / 1e6);
		json_double(j, "dirty_rate_mbs", r->dirty_rate / 1e6);
		json_close(j);
	}
	json_close_array(j);
	json_u64(j, "stream_bytes", bytes);
}

static int parse(int argc, char **argv, struct cli *cli, struct image_args *a,
		 const char *cmd, const char *allowed)
{
	const char *seen[OPT_SEEN_MAX] = { 0 };
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:s:l:d:o:i:e:nJvqhV", image_longopts,
				NULL)) != -1) {
		char key = c >= 256 ? "aFRSfTNCEKUMLmwxgZ"[c - 256] : (char)c;

		if (c != '?' && c != ':' && c != 'h' && c != 'V' &&
		    !strchr(allowed, key))
			return errx_usage("option %s does not apply to '%s'",
					  option_name(image_longopts, c), cmd);
		/* -i again: the next image of a chain */
		ret = c == 'i' ? 0 : option_once(image_longopts, c, seen);
		if (ret)
			return ret;
		switch (c) {
		case 'p':
			ret = pid_option("--pid", optarg, &a->pid);
			break;
		case 's': ret = src_option(optarg, &a->src); break;
		case 'l':
			ret = number_option("--len", optarg, &a->len);
			if (!ret && !a->len)
				ret = errx_usage("--len 0: the length must not be zero");
			break;
		case 'd': ret = dst_option(optarg, true, &a->dst); break;
		case 'o': a->path = optarg; break;
		case 'e':
			a->engine_given = true;
			ret = engine_option(optarg, &a->engine);
			break;
		case 'i':
			if (a->n_inputs == sizeof(a->inputs) / sizeof(a->inputs[0]))
				return errx_usage("-i given more than %zu times: a chain holds at most %d images",
						  sizeof(a->inputs) / sizeof(a->inputs[0]), PGCLONE_MAX_CHAIN + 1);
			a->inputs[a->n_inputs++] = a->path = optarg;
			break;
		case OPT_PARENT: a->parent = optarg; break;
		case OPT_TRACK: a->flags |= PGCLONE_TRACK; break;
		case OPT_TRACK_METHOD: ret = track_method_option(optarg, &a->track); break;
		case OPT_UPDATE: a->flags |= PGCLONE_UPDATE; break;
		case OPT_LIVE: a->flags |= PGCLONE_LIVE; break;
		case OPT_LEAVE_STOPPED: a->flags |= PGCLONE_LEAVE_STOPPED; break;
		case OPT_PROGRESS: a->progress = true; break;
		case OPT_MAX_ROUNDS:
			ret = count_option("--max-rounds", optarg, 0, PGCLONE_LIVE_MAX_ROUNDS,
					   &a->max_rounds);
			break;
		case OPT_MAX_DOWNTIME:
			ret = count_option("--max-downtime", optarg, 1, 3600000,
					   &a->max_downtime_ms);
			break;
		case OPT_ALL: a->all = true; break;
		case OPT_NO_FREEZE: a->flags |= PGCLONE_NO_FREEZE; break;
		case OPT_SNAPSHOT: a->flags |= PGCLONE_SNAPSHOT; break;
		case OPT_REPLACE: a->flags |= PGCLONE_REPLACE; break;
		case OPT_STRICT: a->flags |= PGCLONE_STRICT; break;
		case OPT_FORCE: a->flags |= PGCLONE_FORCE; break;
		case OPT_TIMEOUT: ret = timeout_option(optarg, &a->timeout_ms); break;
		case OPT_COMPRESS: ret = compress_option(optarg, a); break;
		case OPT_COMPRESS_THREADS:
			ret = count_option("--compress-threads", optarg, 1,
					   PGCLONE_MAX_COMPRESS_THREADS, &a->threads);
			break;
		case 'n': a->flags |= PGCLONE_DRY_RUN; break;
		default: ret = common_option(c, argv, image_longopts, cli); break;
		}
		if (ret)
			return ret;
	}
	if (strchr(allowed, 'P') && optind < argc && !a->path)
		a->path = argv[optind++];
	if (optind < argc)
		return errx_usage("unexpected argument '%s'", clip(argv[optind]));
	return 0;
}

static void print_ranges_json(struct json *j, const struct pgclone_range *r,
			      size_t n)
{
	json_open_array(j, "ranges");
	for (size_t i = 0; i < n; i++) {
		char prot[5];

		format_prot(r[i].map.prot, r[i].map.shared, prot);
		json_open(j, NULL);
		json_hex(j, "start", r[i].map.start);
		json_hex(j, "end", r[i].map.end);
		json_hex(j, "dst", r[i].dst);
		json_str(j, "perms", prot);
		json_str(j, "kind", pgclone_kind_name(r[i].map.kind));
		json_str(j, "name", r[i].map.name);
		json_u64(j, "pages", r[i].pages);
		json_u64(j, "pages_present", r[i].pages_present);
		json_u64(j, "pages_stored", r[i].pages_copied);
		json_close(j);
	}
	json_close_array(j);
}

static void report(const char *what, const struct image_args *a,
		   const struct pgclone_result *r, const struct cli *cli, FILE *out)
{
	if (cli->json) {
		struct json j;

		json_init(&j, out);
		json_open(&j, NULL);
		json_str(&j, "command", what);
		json_u64(&j, "pid", (uint64_t)a->pid);
		json_bool(&j, "dry_run", a->flags & PGCLONE_DRY_RUN);
		if (strcmp(what, "dumped")) {	/* a dump changes no process */
			json_bool(&j, "committed", r->flags & PGCLONE_RESULT_COMMITTED);
			/* where the first range lands (--dst auto, dry run: 0x0) */
			json_hex(&j, "dst", r->dst);
			json_bool(&j, "dst_auto", a->flags & PGCLONE_DST_AUTO);
		}
		print_ranges_json(&j, r->ranges, r->nr_ranges);
		if (a->flags & PGCLONE_LIVE)
			live_json(&j);
		json_u64(&j, "pages_present", r->pages_present);
		json_u64(&j, "pages_written", r->pages_copied);
		json_u64(&j, "bytes", r->bytes_copied);
		json_double(&j, "elapsed_ms", (double)r->elapsed_ns / 1e6);
		json_close(&j);
		json_end(&j);
		return;
	}
	if (cli->quiet)
		return;
	fprintf(out, "%s %zu range(s) of PID %d: %llu pages present, %llu pages of data, %.3f ms\n",
		what, r->nr_ranges, (int)a->pid,
		(unsigned long long)r->pages_present,
		(unsigned long long)r->pages_copied, (double)r->elapsed_ns / 1e6);
	for (size_t i = 0; i < r->nr_ranges; i++) {
		const struct pgclone_range *rg = &r->ranges[i];
		char prot[5];

		format_prot(rg->map.prot, rg->map.shared, prot);
		fprintf(out, "  0x%llx-0x%llx %s %-12s -> 0x%llx%s",
			(unsigned long long)rg->map.start,
			(unsigned long long)rg->map.end, prot,
			pgclone_kind_name(rg->map.kind),
			(unsigned long long)rg->dst,
			rg->map.name[0] ? "  " : "");
		fputs_escaped(rg->map.name, out);
		fputc('\n', out);
	}
}

int cmd_dump(int argc, char **argv, struct cli *cli)
{
	struct image_args a = { 0 };
	struct pgclone_result res = { .sz = sizeof(res) };
	struct outfile out;
	char done[96];
	bool to_stdout;
	int parent_fd = -1, ret, status;

	a.max_rounds = -2;
	ret = parse(argc, argv, cli, &a, "dump", "psloaFNCEKMeJvqLmwxgZ");
	if (ret)
		return ret;
	if (a.threads && !a.compress)
		return errx_usage("--compress-threads applies only with --compress");
	if (!(a.flags & PGCLONE_LIVE) && (a.max_rounds != -2 || a.max_downtime_ms ||
					  (a.flags & PGCLONE_LEAVE_STOPPED) || a.progress))
		return errx_usage("%s applies only with --live",
				  a.flags & PGCLONE_LEAVE_STOPPED ? "--leave-stopped" :
				  a.max_rounds != -2 ? "--max-rounds" :
				  a.max_downtime_ms ? "--max-downtime" : "--progress");
	if ((a.flags & PGCLONE_LIVE) && (a.flags & (PGCLONE_NO_FREEZE | PGCLONE_SNAPSHOT |
						    PGCLONE_TRACK) || a.parent))
		return errx_usage("--live does not go with %s: it freezes the source for its final round and is its own base",
				  a.flags & PGCLONE_NO_FREEZE ? "--no-freeze" :
				  a.flags & PGCLONE_SNAPSHOT ? "--snapshot" :
				  a.parent ? "--parent" : "--track");
	set_live_progress(a.progress);
	if (!a.pid)
		return errx_usage("--pid is required");
	if (a.all == a.src.given)
		return errx_usage("give either --src ADDR [--len LEN] or --all");
	if (!a.path)
		return errx_usage("-o FILE (or -o - for standard output) is required");
	if ((a.flags & PGCLONE_SNAPSHOT) && (a.flags & PGCLONE_NO_FREEZE))
		return errx_usage("--snapshot and --no-freeze contradict each other: a snapshot is a freeze of an instant");
	if (a.engine_given && !(a.flags & PGCLONE_SNAPSHOT))
		return errx_usage("--engine chooses who takes a --snapshot: a dump without one reads the source itself");
	if (a.parent)
		a.flags |= PGCLONE_DELTA | PGCLONE_TRACK;
	if ((a.flags & PGCLONE_TRACK) && (a.flags & PGCLONE_NO_FREEZE))
		return errx_usage("%s needs the source frozen: it reads, then clears, what the source writes (not with --no-freeze)",
				  a.parent ? "--parent" : "--track");
	if ((a.flags & PGCLONE_TRACK) && (a.flags & PGCLONE_SNAPSHOT))
		return errx_usage("%s is not supported with --snapshot yet",
				  a.parent ? "--parent" : "--track");
	if (a.track && !(a.flags & (PGCLONE_TRACK | PGCLONE_LIVE)))
		return errx_usage("--track-method chooses how --track, --parent or --live follows written pages: give one of them");
	if (a.parent && !strcmp(a.parent, "-"))
		return errx_usage("--parent -: the parent is an image file, not standard input");
	to_stdout = !strcmp(a.path, "-");
	install_log(cli);
	ret = check_pid_exists(a.pid, "--pid");
	if (!ret)
		ret = check_not_self(a.pid, "--pid");
	if (ret)
		return ret;
	/* the image is created with no capability in effect: as the user */
	if (priv_limit(PRIV_PROCESS))
		return EXIT_FAILED;
	if (a.src.name) {
		ret = src_resolve(a.pid, &a.src);
		if (ret)
			return ret;
	}
	/* opened as the user, like the image */
	if (a.parent) {
		parent_fd = open(a.parent, O_RDONLY | O_CLOEXEC);
		if (parent_fd < 0) {
			fprintf(stderr, "%s: --parent ", prog);
			fputs_escaped(clip(a.parent), stderr);
			fprintf(stderr, ": %s\n", strerror(errno));
			return EXIT_USAGE;
		}
	}
	/* before a temporary file exists: a signal then removes it */
	cancel_on_signals();
	ret = outfile_open(&out, a.path);
	if (ret) {
		if (parent_fd >= 0)
			close(parent_fd);
		return ret;
	}
	if (a.all)
		a.flags |= PGCLONE_DUMP_ALL;
	PGCLONE_OPTS_OF(pgclone_image_opts, opts, .flags = a.flags,
			.progress = progress_cb, .progress_ctx = cli,
			.ready = a.flags & PGCLONE_SNAPSHOT ? sandbox_ready_snapshot :
				 a.flags & PGCLONE_LIVE ? sandbox_ready_live :
							  sandbox_ready_dump,
			.compress = a.compress ? PGCLONE_COMPRESS_ZSTD : PGCLONE_COMPRESS_NONE,
			.compress_level = a.level, .compress_threads = (unsigned int)a.threads,
			.parent_fd = a.parent ? parent_fd : 0,
			.engine = a.engine, .track = a.track,
			.max_rounds = a.max_rounds == -2 ? 0 :
				      a.max_rounds == 0 ? PGCLONE_LIVE_NO_PRECOPY : (int)a.max_rounds,
			.max_downtime_ms = (unsigned int)a.max_downtime_ms,
			.live_round = a.flags & PGCLONE_LIVE ? live_round_cb : NULL,
			.complete = a.flags & PGCLONE_LIVE ? live_complete_cb : NULL);
	live_out = &out;
	ret = pgclone_dump(a.pid, a.src.addr, a.len, out.fd, &opts, &res);
	progress_done();
	if (parent_fd >= 0)
		close(parent_fd);
	if (live_committed > 0)		/* its one line said why */
		return live_committed;
	if (ret && live_committed < 0) {
		outfile_abort(&out);	/* removes only the temporary file it made */
		return report_lib_error(ret, "dump");
	}
	/* -ENOTRECOVERABLE: the stream is whole, then tracking was not
	 * ended (EXIT_INCOMPLETE); its line, then the report */
	status = ret ? report_lib_error(ret, "dump") : EXIT_DONE;
	ret = live_committed < 0 ? outfile_commit(&out) : 0;
	if (ret)
		return ret;
	output_committed();	/* the image is in place: a lost report is not a lost dump */
	report("dumped", &a, &res, cli, to_stdout ? stderr : stdout);
	snprintf(done, sizeof(done), "dumped %zu range(s) of PID %d", res.nr_ranges,
		 (int)a.pid);
	pgclone_result_free(&res);
	return check_report_written(to_stdout ? stderr : stdout, status, done);
}

static void close_inputs(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] != STDIN_FILENO)
			close(fds[i]);
}

int cmd_restore(int argc, char **argv, struct cli *cli)
{
	struct image_args a = { 0 };
	struct pgclone_result res = { .sz = sizeof(res) };
	int chain[PGCLONE_MAX_CHAIN];
	size_t nr_chain = 0;
	char done[128];
	int fd, ret, status;

	bool update;

	ret = parse(argc, argv, cli, &a, "restore", "pidRSfTnUJvq");
	if (ret)
		return ret;
	for (size_t i = 0; i < a.n_inputs; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(a.inputs[i], "-") && !strcmp(a.inputs[j], "-"))
				return errx_usage("-i - given twice: one image of a chain may come from standard input");
	if ((a.flags & PGCLONE_FORCE) && !(a.flags & PGCLONE_REPLACE))
		return errx_usage("--force applies only with --replace");
	if (a.dst.automatic && (a.flags & PGCLONE_REPLACE))
		return errx_usage("--dst auto picks a free address: --replace does not apply");
	update = a.flags & PGCLONE_UPDATE;
	if (update && (a.flags & PGCLONE_REPLACE))
		return errx_usage("--update writes into the clone that is there: --replace does not apply");
	if (update && a.dst.automatic)
		return errx_usage("--update writes into the clone that is there: give its address with --dst, not auto");
	if (update && a.n_inputs < 2)
		return errx_usage("--update needs the images the clone was restored from: -i BASE [-i DELTA ...] -i NEW, the last one applied");
	if (a.dst.automatic)
		a.flags |= PGCLONE_DST_AUTO;
	if (!a.pid)
		return errx_usage("--pid is required");
	install_log(cli);
	ret = check_pid_exists(a.pid, "--pid");
	if (!ret)
		ret = check_not_self(a.pid, "--pid");
	if (ret)
		return ret;
	if (priv_limit(PRIV_PROCESS))
		return EXIT_FAILED;
	cancel_on_signals();	/* from here on: the wait for input too */
	/* a chain: every image but the last, base first */
	for (; a.n_inputs > 1 && nr_chain < a.n_inputs - 1; nr_chain++) {
		ret = open_input(a.inputs[nr_chain], a.timeout_ms, &chain[nr_chain]);
		if (ret) {
			close_inputs(chain, nr_chain);
			return ret;
		}
	}
	ret = open_input(a.path, a.timeout_ms, &fd);
	if (ret) {
		close_inputs(chain, nr_chain);
		return ret;
	}
	PGCLONE_OPTS_OF(pgclone_image_opts, opts, .flags = a.flags, .dst = a.dst.addr,
			.progress = progress_cb, .progress_ctx = cli,
			.ready = sandbox_ready_copy, .confine = sandbox_image_child,
			.input_timeout_ms = a.timeout_ms,
			.chain = nr_chain ? chain : NULL, .nr_chain = nr_chain);
	ret = pgclone_restore(a.pid, fd, &opts, &res);
	progress_done();
	if (fd != STDIN_FILENO)
		close(fd);
	close_inputs(chain, nr_chain);
	/* -ENOTRECOVERABLE: restored, then a later step failed; report both */
	if (ret && ret != -ENOTRECOVERABLE)
		return report_lib_error(ret, update ? "restore --update" : "restore");
	status = ret ? report_lib_error(ret, update ? "restore --update" : "restore") :
		       EXIT_DONE;
	if (res.flags & PGCLONE_RESULT_COMMITTED)
		output_committed();
	report(a.flags & PGCLONE_DRY_RUN ? (update ? "would update" : "would restore") :
	       update ? "updated" : "restored", &a, &res, cli, stdout);
	if (res.flags & PGCLONE_RESULT_COMMITTED)
		snprintf(done, sizeof(done), "%s %zu range(s) %s 0x%llx in PID %d",
			 update ? "updated" : "restored", res.nr_ranges,
			 update ? "at" : "to", (unsigned long long)res.dst, (int)a.pid);
	status = check_report_written(stdout, status,
				      res.flags & PGCLONE_RESULT_COMMITTED ? done : NULL);
	pgclone_result_free(&res);
	return status;
}

/*
 * "compressed (zstd, level 3): ..." with the ratio when it is known.
 * Nothing for an image stored as it is: its show output stays as it was.
 */
static void print_compression(const struct pgclone_image_info *in, FILE *out)
{
	if (in->compression != PGCLONE_COMPRESS_ZSTD)
		return;
	fprintf(out, "data: compressed (zstd, level %d)", (int)in->compress_level);
	if (in->data_stored)
		fprintf(out, ": %llu bytes stored for %llu, ratio %.2f\n",
			(unsigned long long)in->data_stored,
			(unsigned long long)in->data_len,
			(double)in->data_len / (double)in->data_stored);
	else
		fputs(": stored size known once read (pgclone verify)\n", out);
}

/*
 * "image ID, a delta of image ID (manifest crc32c 0x...)" and whether its
 * dump armed written-page tracking.  Nothing for an image of an older
 * pgclone, which has no id: its show output stays as it was.
 */
static void print_lineage(const struct pgclone_image_info *in, FILE *out)
{
	if (!in->id[0])
		return;
	fprintf(out, "image %s", in->id);
	if (in->delta)
		fprintf(out, ", a delta of image %s (manifest crc32c 0x%08x)",
			in->parent_id, in->parent_manifest_crc);
	fprintf(out, "%s\n", in->tracking ? ", armed written-page tracking" : "");
	if (in->live && in->live_rounds)
		fprintf(out, "a live stream: %u round(s), the last one final\n", in->live_rounds);
	else if (in->live)
		fputs("a live stream: this is its round 0 (pgclone verify reads every round)\n", out);
}

static void json_lineage(struct json *j, const struct pgclone_image_info *in)
{
	json_str(j, "id", in->id);
	json_bool(j, "tracking", in->tracking);
	json_bool(j, "delta", in->delta);
	json_bool(j, "live", in->live);
	if (in->live && in->live_rounds)
		json_u64(j, "live_rounds", in->live_rounds);
	if (in->delta) {
		json_str(j, "parent_id", in->parent_id);
		json_hex(j, "parent_manifest_crc", in->parent_manifest_crc);
		json_u64(j, "pages_parent", in->pages_parent);
	}
}

/* The same for --json, inside the object open on @j. */
static void json_compression(struct json *j, const struct pgclone_image_info *in)
{
	json_str(j, "compression", in->compression == PGCLONE_COMPRESS_ZSTD ? "zstd" : "none");
	if (in->compression == PGCLONE_COMPRESS_ZSTD)
		json_i64(j, "level", in->compress_level);
	json_u64(j, "data_stored", in->data_stored);
}

static void show_text(const struct pgclone_image_info *in)
{
	time_t t = (time_t)(in->time_ns / 1000000000ULL);
	char when[64];

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	printf("pgclone image, format %u.%u, page size %u\n", in->major, in->minor,
	       in->page_size);
	printf("features: compat 0x%x incompat 0x%x ro_compat 0x%x\n", in->compat,
	       in->incompat, in->ro_compat);
	/* every string of an image is the image author's: escaped */
	printf("source: PID %d (", (int)in->src_pid);
	fputs_escaped(in->comm, stdout);
	fputs("), ", stdout);
	fputs_escaped(in->arch, stdout);
	fputs(", kernel ", stdout);
	fputs_escaped(in->kernel, stdout);
	fputs(", pgclone ", stdout);
	fputs_escaped(in->tool_version, stdout);
	printf(", %s, %s\n", when, in->frozen ? "frozen" : "not frozen");
	printf("layout: manifest %llu bytes at 64, data %llu bytes at %llu\n",
	       (unsigned long long)in->manifest_len, (unsigned long long)in->data_len,
	       (unsigned long long)in->data_off);
	print_compression(in, stdout);
	print_lineage(in, stdout);
	printf("%zu range(s), %llu extent(s): %llu data pages stored, %llu zero pages recorded",
	       in->nr_ranges, (unsigned long long)in->nr_extents,
	       (unsigned long long)in->pages_data, (unsigned long long)in->pages_zero);
	if (in->delta)
		printf(", %llu pages left to the parent", (unsigned long long)in->pages_parent);
	putchar('\n');
	printf("%-16s %-16s %-4s %-12s %8s %8s %s\n", "START", "END", "PERM", "KIND",
	       "PAGES", "STORED", "NAME");
	for (size_t i = 0; i < in->nr_ranges; i++) {
		const struct pgclone_range *r = &in->ranges[i];
		char prot[5];

		format_prot(r->map.prot, r->map.shared, prot);
		printf("%-16llx %-16llx %-4s %-12s %8llu %8llu%s",
		       (unsigned long long)r->map.start, (unsigned long long)r->map.end,
		       prot, pgclone_kind_name(r->map.kind),
		       (unsigned long long)r->pages,
		       (unsigned long long)r->pages_copied,
		       r->map.name[0] ? " " : "");
		fputs_escaped(r->map.name, stdout);
		putchar('\n');
	}
}

static void show_json(const struct pgclone_image_info *in)
{
	struct json j;

	json_init(&j, stdout);
	json_open(&j, NULL);
	json_open(&j, "header");
	json_u64(&j, "major", in->major);
	json_u64(&j, "minor", in->minor);
	json_u64(&j, "page_size", in->page_size);
	json_hex(&j, "compat", in->compat);
	json_hex(&j, "incompat", in->incompat);
	json_hex(&j, "ro_compat", in->ro_compat);
	json_u64(&j, "manifest_len", in->manifest_len);
	json_u64(&j, "data_off", in->data_off);
	json_u64(&j, "data_len", in->data_len);
	json_compression(&j, in);
	json_close(&j);
	json_open(&j, "lineage");	/* per dump, like the source's time */
	json_lineage(&j, in);
	json_close(&j);
	json_open(&j, "source");
	json_u64(&j, "pid", (uint64_t)in->src_pid);
	json_str(&j, "comm", in->comm);
	json_str(&j, "arch", in->arch);
	json_str(&j, "kernel", in->kernel);
	json_str(&j, "tool_version", in->tool_version);
	json_u64(&j, "time_ns", in->time_ns);
	json_bool(&j, "frozen", in->frozen);
	json_close(&j);
	print_ranges_json(&j, in->ranges, in->nr_ranges);
	json_u64(&j, "extents", in->nr_extents);
	json_u64(&j, "pages_data", in->pages_data);
	json_u64(&j, "pages_zero", in->pages_zero);
	json_close(&j);
	json_end(&j);
}

static int info_cmd(int argc, char **argv, struct cli *cli, bool verify)
{
	struct image_args a = { 0 };
	struct pgclone_image_info info = { .sz = sizeof(info) };
	int fd, ret;

	ret = parse(argc, argv, cli, &a, verify ? "verify" : "show", "PJvq");
	if (ret)
		return ret;
	install_log(cli);
	/* parsing untrusted bytes: no capability, and the narrowest filter */
	if (priv_limit(PRIV_NONE))
		return EXIT_FAILED;
	/* nothing to undo here: a signal ends show and verify with one line */
	exit_on_signals();
	ret = open_input(a.path, 0, &fd);
	if (ret)
		return ret;
	tzset();	/* read the time zone now: the sandbox forbids opening it */
	if (sandbox_image_parse())
		return EXIT_FAILED;
	ret = pgclone_image_info(fd, verify ? PGCLONE_IMAGE_VERIFY : 0, &info);
	if (fd != STDIN_FILENO)
		close(fd);
	if (ret)
		return report_lib_error(ret, verify ? "verify" : "show");
	if (verify && cli->json) {
		struct json j;

		json_init(&j, stdout);
		json_open(&j, NULL);
		json_bool(&j, "ok", true);
		json_u64(&j, "ranges", info.nr_ranges);
		json_u64(&j, "pages_data", info.pages_data);
		json_u64(&j, "data_len", info.data_len);
		json_compression(&j, &info);
		json_lineage(&j, &info);
		json_close(&j);
		json_end(&j);
	} else if (verify && !cli->quiet) {
		fputs_escaped(a.path, stdout);
		printf(": ok: %zu range(s), %llu data pages, every checksum matches\n",
		       info.nr_ranges, (unsigned long long)info.pages_data);
		print_compression(&info, stdout);
		if (info.delta || info.live)
			print_lineage(&info, stdout);
	}
	else if (!verify && cli->json)
		show_json(&info);
	else if (!verify)
		show_text(&info);
	pgclone_image_info_free(&info);
	return EXIT_DONE;
}

int cmd_show(int argc, char **argv, struct cli *cli)
{
	return info_cmd(argc, argv, cli, false);
}

int cmd_verify(int argc, char **argv, struct cli *cli)
{
	return info_cmd(argc, argv, cli, true);
}
