// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * clone.c - "pgclone [clone]": parse, clone, report.
 */
#include <errno.h>
#include <getopt.h>
#include <pgclone.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "cli.h"
#include "escape.h"
#include "strutils.h"

enum { OPT_REPLACE = 256, OPT_MOVE, OPT_NO_FREEZE, OPT_FORCE, OPT_SNAPSHOT };

struct clone_args {
	pid_t pid, target;
	struct src_arg src;
	struct dst_arg dst;
	uint64_t len;
	enum pgclone_engine engine;
	unsigned int flags;
};

static int parse_args(int argc, char **argv, struct cli *cli,
		      struct clone_args *a)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "len", required_argument, NULL, 'l' },
		{ "target", required_argument, NULL, 't' },
		{ "engine", required_argument, NULL, 'e' },
		{ "replace", no_argument, NULL, OPT_REPLACE },
		{ "move", no_argument, NULL, OPT_MOVE },
		{ "no-freeze", no_argument, NULL, OPT_NO_FREEZE },
		{ "snapshot", no_argument, NULL, OPT_SNAPSHOT },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "dry-run", no_argument, NULL, 'n' },
		CLI_COMMON_LONGOPTS,
	};
	const char *seen[OPT_SEEN_MAX] = { 0 };
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:s:d:l:t:e:nJvqhV", longopts,
				NULL)) != -1) {
		ret = option_once(longopts, c, seen);
		if (ret)
			return ret;
		switch (c) {
		case 'p': ret = pid_option("--pid", optarg, &a->pid); break;
		case 't': ret = pid_option("--target", optarg, &a->target); break;
		case 's': ret = src_option(optarg, &a->src); break;
		case 'd': ret = dst_option(optarg, false, &a->dst); break;
		case 'l':
			ret = number_option("--len", optarg, &a->len);
			if (!ret && !a->len)
				ret = errx_usage("--len 0: the length must not be zero");
			break;
		case 'e': ret = engine_option(optarg, &a->engine); break;
		case OPT_REPLACE: a->flags |= PGCLONE_REPLACE; break;
		case OPT_MOVE: a->flags |= PGCLONE_MOVE; break;
		case OPT_NO_FREEZE: a->flags |= PGCLONE_NO_FREEZE; break;
		case OPT_SNAPSHOT: a->flags |= PGCLONE_SNAPSHOT; break;
		case OPT_FORCE: a->flags |= PGCLONE_FORCE; break;
		case 'n': a->flags |= PGCLONE_DRY_RUN; break;
		default:
			ret = common_option(c, argv, longopts, cli);
			break;
		}
		if (ret)
			return ret;
	}
	if (optind < argc)
		return errx_usage("unexpected argument '%s'", clip(argv[optind]));
	if (!a->pid)
		return errx_usage("--pid is required");
	if (!a->src.given)
		return errx_usage("--src is required");
	if (!a->dst.given)
		return errx_usage("--dst is required");
	if ((a->flags & PGCLONE_SNAPSHOT) && (a->flags & PGCLONE_NO_FREEZE))
		return errx_usage("--snapshot and --no-freeze contradict each other: a snapshot is a freeze of an instant");
	if ((a->flags & PGCLONE_SNAPSHOT) && (a->flags & PGCLONE_MOVE))
		return errx_usage("--snapshot and --move contradict each other: the source runs on after the snapshot");
	if ((a->flags & PGCLONE_FORCE) && !(a->flags & PGCLONE_REPLACE))
		return errx_usage("--force applies only with --replace");
	if (a->dst.automatic && (a->flags & PGCLONE_REPLACE))
		return errx_usage("--dst auto picks a free address: --replace does not apply");
	if (a->dst.automatic)
		a->flags |= PGCLONE_DST_AUTO;
	if (!a->target)
		a->target = a->pid;
	return 0;
}

static void print_json(const struct clone_args *a, const struct pgclone_result *r,
		       const char *error)
{
	struct json j;

	json_init(&j, stdout);
	json_open(&j, NULL);
	json_str(&j, "engine", pgclone_engine_name(r->engine));
	json_bool(&j, "dry_run", a->flags & PGCLONE_DRY_RUN);
	/* committed: the destination holds the clone; error: what failed after */
	json_bool(&j, "committed", r->flags & PGCLONE_RESULT_COMMITTED);
	if (error)
		json_str(&j, "error", error);
	json_u64(&j, "src_pid", (uint64_t)a->pid);
	json_u64(&j, "dst_pid", (uint64_t)a->target);
	json_hex(&j, "src", r->src);
	json_hex(&j, "dst", r->dst);	/* --dst auto, dry run: 0x0 */
	json_bool(&j, "dst_auto", a->flags & PGCLONE_DST_AUTO);
	json_u64(&j, "len", r->len);
	/* no --len: up to the end of the mapping, whatever the kernel merged */
	json_bool(&j, "to_end_of_mapping", !a->len);
	json_open_array(&j, "ranges");
	for (size_t i = 0; i < r->nr_ranges; i++) {
		const struct pgclone_range *rg = &r->ranges[i];
		char prot[5];

		format_prot(rg->map.prot, rg->map.shared, prot);
		json_open(&j, NULL);
		json_hex(&j, "src", rg->map.start);
		json_hex(&j, "end", rg->map.end);
		json_hex(&j, "dst", rg->dst);
		json_str(&j, "perms", prot);
		json_str(&j, "kind", pgclone_kind_name(rg->map.kind));
		json_str(&j, "name", rg->map.name);
		json_u64(&j, "pages", rg->pages);
		json_u64(&j, "pages_present", rg->pages_present);
		json_u64(&j, "pages_copied", rg->pages_copied);
		json_u64(&j, "pages_shared", rg->pages_shared);
		json_close(&j);
	}
	json_close_array(&j);
	json_u64(&j, "pages_present", r->pages_present);
	json_u64(&j, "pages_copied", r->pages_copied);
	json_u64(&j, "pages_skipped", r->pages_skipped);
	json_u64(&j, "pages_shared", r->pages_shared);
	json_u64(&j, "bytes_copied", r->bytes_copied);
	json_double(&j, "elapsed_ms", (double)r->elapsed_ns / 1e6);
	json_close(&j);
	json_end(&j);
}

static void print_text(const struct clone_args *a, const struct pgclone_result *r,
		       const struct cli *cli)
{
	bool dry = a->flags & PGCLONE_DRY_RUN;

	if (dry && (a->flags & PGCLONE_DST_AUTO))	/* picked only when cloning */
		printf("would clone 0x%llx-0x%llx of PID %d to an address PID %d picks (--dst auto) (%s engine)\n",
		       (unsigned long long)r->src, (unsigned long long)(r->src + r->len),
		       (int)a->pid, (int)a->target, pgclone_engine_name(r->engine));
	else
		printf("%s 0x%llx-0x%llx of PID %d to 0x%llx in PID %d (%s engine)\n",
		       dry ? "would clone" : "cloned", (unsigned long long)r->src,
		       (unsigned long long)(r->src + r->len), (int)a->pid,
		       (unsigned long long)r->dst, (int)a->target,
		       pgclone_engine_name(r->engine));
	for (size_t i = 0; i < r->nr_ranges; i++) {
		const struct pgclone_range *rg = &r->ranges[i];
		char prot[5];

		format_prot(rg->map.prot, rg->map.shared, prot);
		printf("  0x%llx-0x%llx %s %-12s -> 0x%llx  %llu pages, %llu present%s",
		       (unsigned long long)rg->map.start,
		       (unsigned long long)rg->map.end, prot,
		       pgclone_kind_name(rg->map.kind),
		       (unsigned long long)rg->dst,
		       (unsigned long long)rg->pages,
		       (unsigned long long)rg->pages_present,
		       rg->map.name[0] ? "  " : "");
		fputs_escaped(rg->map.name, stdout);
		putchar('\n');
	}
	if (!a->len && (dry || cli->verbose))
		printf("  (no --len: up to the end of the mapping that holds --src, as the kernel keeps it)\n");
	if (!dry)
		printf("%llu pages copied (%llu KiB), %llu never-touched pages skipped, %llu pages shared, %.3f ms\n",
		       (unsigned long long)r->pages_copied,
		       (unsigned long long)(r->bytes_copied >> 10),
		       (unsigned long long)r->pages_skipped,
		       (unsigned long long)r->pages_shared,
		       (double)r->elapsed_ns / 1e6);
}

int cmd_clone(int argc, char **argv, struct cli *cli)
{
	struct clone_args a = { 0 };
	struct pgclone_result res = { .sz = sizeof(res) };
	char done[160];
	int ret, status;

	ret = parse_args(argc, argv, cli, &a);
	if (ret)
		return ret;
	install_log(cli);
	if (priv_limit(PRIV_PROCESS))
		return EXIT_FAILED;
	ret = check_pid_exists(a.pid, "--pid");
	if (!ret && a.target != a.pid)
		ret = check_pid_exists(a.target, "--target");
	if (!ret)
		ret = check_not_self(a.pid, "--pid");
	if (!ret)
		ret = check_not_self(a.target, "--target");
	if (!ret && a.src.name)
		ret = src_resolve(a.pid, &a.src);
	if (ret)
		return ret;

	PGCLONE_OPTS(opts, .engine = a.engine, .flags = a.flags,
		     .progress = progress_cb, .progress_ctx = cli,
		     .ready = a.engine == PGCLONE_ENGINE_COPY ? sandbox_ready_copy :
								  sandbox_ready);
	cancel_on_signals();
	ret = pgclone_clone(a.pid, a.src.addr, a.len, a.target, a.dst.addr, &opts,
			    &res);
	progress_done();
	/* -ENOTRECOVERABLE: cloned, then a later step failed; report both */
	if (ret && ret != -ENOTRECOVERABLE)
		return report_lib_error(ret, "clone");
	status = ret ? report_lib_error(ret, "clone") : EXIT_DONE;
	if (res.flags & PGCLONE_RESULT_COMMITTED)
		output_committed();
	if (cli->json)
		print_json(&a, &res, ret ? pgclone_last_error() : NULL);
	else if (!cli->quiet)
		print_text(&a, &res, cli);
	if (res.flags & PGCLONE_RESULT_COMMITTED)
		snprintf(done, sizeof(done), "cloned 0x%llx-0x%llx of PID %d to 0x%llx in PID %d",
			 (unsigned long long)res.src,
			 (unsigned long long)(res.src + res.len), (int)a.pid,
			 (unsigned long long)res.dst, (int)a.target);
	status = check_report_written(stdout, status,
				      res.flags & PGCLONE_RESULT_COMMITTED ? done : NULL);
	pgclone_result_free(&res);
	return status;
}
