// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * maps.c - "pgclone maps": what a process has mapped, and for each mapping
 * whether pgclone can clone it and, if not, why.
 */
#include <getopt.h>
#include <pgclone.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "cli.h"
#include "escape.h"
#include "strutils.h"

static void print_json(const struct pgclone_mapping *m, size_t n, pid_t pid)
{
	struct json j;

	json_init(&j, stdout);
	json_open(&j, NULL);
	json_u64(&j, "pid", (uint64_t)pid);
	json_open_array(&j, "mappings");
	for (size_t i = 0; i < n; i++) {
		char prot[5];

		format_prot(m[i].prot, m[i].shared, prot);
		json_open(&j, NULL);
		json_hex(&j, "start", m[i].start);
		json_hex(&j, "end", m[i].end);
		json_str(&j, "perms", prot);
		json_hex(&j, "offset", m[i].offset);
		json_u64(&j, "inode", m[i].ino);
		json_str(&j, "kind", pgclone_kind_name(m[i].kind));
		json_bool(&j, "clonable", m[i].refusal == PGCLONE_OK);
		if (m[i].refusal != PGCLONE_OK)
			json_str(&j, "reason", pgclone_refusal_name(m[i].refusal));
		json_str(&j, "name", m[i].name);
		json_close(&j);
	}
	json_close_array(&j);
	json_close(&j);
	json_end(&j);
}

static void print_table(const struct pgclone_mapping *m, size_t n)
{
	printf("%-16s %-16s %-4s %-12s %-8s %s\n", "START", "END", "PERM", "KIND",
	       "CLONE", "NAME");
	for (size_t i = 0; i < n; i++) {
		bool ok = m[i].refusal == PGCLONE_OK;
		char prot[5];

		format_prot(m[i].prot, m[i].shared, prot);
		/* the last columns only when they say something: no trailing blanks */
		printf("%-16llx %-16llx %-4s %-12s %s",
		       (unsigned long long)m[i].start, (unsigned long long)m[i].end,
		       prot, pgclone_kind_name(m[i].kind), ok ? "yes" : "no");
		if (m[i].name[0] || !ok) {
			printf("%*s", ok ? 6 : 7, "");
			fputs_escaped(m[i].name, stdout);	/* any user may name a file */
		}
		if (!ok)
			printf("%s(%s)", m[i].name[0] ? " " : "",
			       pgclone_refusal_name(m[i].refusal));
		putchar('\n');
	}
}

int cmd_maps(int argc, char **argv, struct cli *cli)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		CLI_COMMON_LONGOPTS,
	};
	struct pgclone_mapping *m;
	size_t n;
	const char *seen[OPT_SEEN_MAX] = { 0 };
	pid_t pid = 0;
	int c, ret;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:JvqhV", longopts, NULL)) != -1) {
		if (option_once(longopts, c, seen))
			return EXIT_USAGE;
		switch (c) {
		case 'p':
			if (pid_option("--pid", optarg, &pid))
				return EXIT_USAGE;
			break;
		default:
			ret = common_option(c, argv, longopts, cli);
			if (ret)
				return ret;
			break;
		}
	}
	if (optind < argc)
		return errx_usage("unexpected argument '%s'", clip(argv[optind]));
	if (!pid)
		return errx_usage("--pid is required");
	install_log(cli);
	if (priv_limit(PRIV_PROCESS) || sandbox_process_work(0))
		return EXIT_FAILED;
	ret = check_pid_exists(pid, "--pid");
	if (ret)
		return ret;
	ret = pgclone_maps(pid, &m, &n);
	if (ret)
		return report_lib_error(ret, "maps");
	if (cli->json)
		print_json(m, n, pid);
	else if (!cli->quiet)
		print_table(m, n);
	pgclone_maps_free(m, n);
	return EXIT_DONE;
}
