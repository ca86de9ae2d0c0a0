// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pgclone - clone a memory mapping of one live process into another.
 *
 * The command line only: parse, call libpgclone, print (text or --json),
 * exit with 0, 1 (failed, nothing changed), 2 (bad usage or input) or
 * 3 (done, but a step after the commit failed).
 */
#include <errno.h>
#include <getopt.h>
#include <pgclone.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "escape.h"
#include "strutils.h"

const char *prog = "pgclone";
bool stdin_closed;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		" %1$s [clone] --pid PID --src ADDR|NAME --dst ADDR [options]\n"
		" %1$s maps --pid PID [--json]\n"
		" %1$s dump --pid PID (--src ADDR|NAME [--len LEN] | --all) -o FILE|- [--no-freeze|--snapshot [--engine NAME]]\n"
		"      [--compress[=LEVEL] [--compress-threads N]] [--track | --parent PREV] [--track-method HOW]\n"
		"      [--live [--max-rounds N] [--max-downtime MS] [--leave-stopped] [--progress]]\n"
		" %1$s restore --pid PID -i FILE|- [-i DELTA ...] [--dst ADDR] [--replace [--force]] [--strict] [--timeout SECONDS] [--dry-run]\n"
		" %1$s restore --update --pid PID -i BASE [-i DELTA ...] -i NEW [--dst ADDR] [--timeout SECONDS] [--dry-run]\n"
		" %1$s show FILE|- [--json]\n"
		" %1$s verify FILE|-\n"
		" %1$s --help | --version\n"
		"\n"
		"Clone the memory mapping at ADDR of process PID to another address,\n"
		"in the same process or in another one (--target).\n"
		"\n"
		"Clone options:\n"
		" -p, --pid PID          source process\n"
		" -s, --src ADDR|NAME    source address (anywhere inside a mapping), or the\n"
		"                        name of one mapping: [heap], [stack], [anon:NAME],\n"
		"                        /path/of/a/mapped/file\n"
		" -d, --dst ADDR|auto    destination address (page aligned, not 0), or auto:\n"
		"                        a free one at the source's offset in a 2 MiB page\n"
		" -l, --len LEN          bytes to clone (default: to the end of the mapping,\n"
		"                        including what the kernel merged into it)\n"
		" -t, --target PID       destination process (default: the source)\n"
		" -e, --engine NAME      auto, kernel or copy (default: auto)\n"
		"     --replace          replace mappings at the destination\n"
		"     --force            with --replace: even a thread's stack, rseq area,\n"
		"                        TLS or robust-futex list (that thread will crash)\n"
		"     --move             unmap the source after a successful clone\n"
		"     --no-freeze        do not stop the source's threads while copying\n"
		"     --snapshot         stop the source only while it forks, then copy from\n"
		"                        that copy-on-write snapshot while it runs on\n"
		" -n, --dry-run          plan and check everything, change nothing\n"
		"\n"
		"Image options (dump, restore):\n"
		"     --all              dump every mapping that can be dumped\n"
		"     --snapshot         dump: stop the source only while a copy-on-write\n"
		"                        snapshot is taken (by the kernel, or a fork of it),\n"
		"                        then write the image from it while the source runs\n"
		"                        on; the image is the instant of the snapshot\n"
		" -e, --engine NAME      dump --snapshot: who takes it: auto (the kernel where\n"
		"                        it has process_vm_mmap), kernel, or copy (a fork)\n"
		"     --compress[=LEVEL] dump: compress each extent with zstd (default level\n"
		"                        3; zstd's range, negative levels are fastest)\n"
		"     --compress-threads N dump: N threads compress besides pgclone's own\n"
		"                        (zstd's workers; the image format is the same)\n"
		"     --track            dump: then arm written-page tracking for a later\n"
		"                        --parent (clears the source's soft-dirty bits, or\n"
		"                        write-protects its pages with a userfaultfd in it)\n"
		"     --parent PREV      dump: only what was written since the image PREV,\n"
		"                        the last dump of this process with --track or\n"
		"                        --parent; implies --track\n"
		"     --track-method HOW dump: auto (soft-dirty where the kernel keeps it,\n"
		"                        else uffd-wp), soft-dirty, or uffd-wp\n"
		"     --live             dump: live pre-copy into one stream: the whole range\n"
		"                        while the source runs, then rounds of what it wrote,\n"
		"                        then a short final round with it frozen\n"
		"     --max-rounds N     dump --live: rounds while it runs, 0-99 (default 10)\n"
		"     --max-downtime MS  dump --live: the longest the final round may stop\n"
		"                        the source, as estimated (default 300)\n"
		"     --leave-stopped    dump --live: leave the source stopped (SIGSTOP)\n"
		"     --progress         dump --live: a line per round even off a terminal\n"
		" -o, --output FILE      write the image to FILE (put in place when complete),\n"
		"                        or - for stdout\n"
		" -i, --input FILE       read the image from FILE, or - for stdin; again for\n"
		"                        each delta of a chain, base first\n"
		" -d, --dst ADDR|auto    restore: where the first range goes (default: the\n"
		"                        image's own addresses; auto: a free address)\n"
		"     --strict           restore: refuse private copies of shared objects\n"
		"     --timeout SECONDS  restore: fail when no input arrives for that long\n"
		"     --update           restore: write the last delta into the live clone of\n"
		"                        the images before it, which the process holds at\n"
		"                        --dst (checked first, page by page)\n"
		"\n"
		"Common options:\n"
		" -J, --json             print one JSON object\n"
		" -v, --verbose          say more, and the time of each phase (twice: debug)\n"
		" -q, --quiet            print nothing on success\n"
		" -h, --help             display this help\n"
		" -V, --version          display version\n"
		"\n"
		"ADDR and LEN take decimal or 0x-hex, with an optional K, M, G or T suffix\n"
		"(either case, powers of 1024, optionally followed by B or iB).\n"
		"An option that takes a value is given once.\n"
		"Exit status: 0 done, 1 failed with both processes unchanged,\n"
		"2 bad usage or input, 3 done (the destination holds the clone or\n"
		"restore) but a later step failed, as the message says.\n"
		"\n"
		"For more details see pgclone(1).\n", prog);
}

static void print_version(void)
{
	printf("%s %s (libpgclone %s)\n", prog, PGCLONE_CLI_VERSION,
	       pgclone_version());
}

int errx_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

int report_lib_error(int err, const char *what)
{
	const char *why = pgclone_last_error();

	/* the library's text may embed a mapped file's or an image's names */
	fprintf(stderr, "%s: ", prog);
	fputs_escaped(why[0] ? why : strerror(-err), stderr);
	fputc('\n', stderr);
	(void)what;
	switch (err) {
	case -ENOTRECOVERABLE:
		return EXIT_INCOMPLETE;
	case -EINVAL:
	case -EFAULT:
	case -EEXIST:
	case -EOPNOTSUPP:
	case -EPROTO:
		return EXIT_USAGE;
	default:
		return EXIT_FAILED;
	}
}

int check_report_written(FILE *out, int status, const char *done)
{
	int err;

	errno = 0;
	if (!fflush(out) && !ferror(out))
		return status;
	err = errno;
	if (status != EXIT_DONE)
		return status;	/* its error line is out already */
	/* errno is gone when an earlier flush (json_end) met the error */
	if (!done) {
		/* EPIPE: the reader chose to stop reading (output.c) */
		if (err != EPIPE)
			fprintf(stderr, "%s: cannot write the report%s%s\n", prog,
				err ? ": " : "", err ? strerror(err) : "");
		return EXIT_FAILED;
	}
	fprintf(stderr, "%s: %s (that stays), but its report could not be written%s%s\n",
		prog, done, err ? ": " : "", err ? strerror(err) : "");
	return EXIT_INCOMPLETE;
}

int common_option(int c, char **argv, const struct option *longopts,
		  struct cli *cli)
{
	switch (c) {
	case 'h':
		usage(stdout);
		exit(EXIT_DONE);
	case 'V':
		print_version();
		exit(EXIT_DONE);
	case 'J':
		cli->json = true;
		return 0;
	case 'v':
		cli->verbose++;
		return 0;
	case 'q':
		cli->quiet = true;
		return 0;
	case ':':
		return errx_usage("option %s needs a value",
				  option_name(longopts, optopt));
	default: {
		const char *arg = argv[optind - 1];

		/* "--replace=yes": getopt names the option in optopt */
		if (optopt && !strncmp(arg, "--", 2) && strchr(arg, '='))
			return errx_usage("option %s takes no value",
					  option_name(longopts, optopt));
		/* optopt: an unknown letter, perhaps inside a bundle like -pX */
		if (optopt && optopt > 32 && optopt < 127)
			return errx_usage("unknown option '-%c'; try '%s --help'",
					  optopt, prog);
		return errx_usage("unknown option '%s'; try '%s --help'",
				  clip(arg), prog);
	}
	}
}

int number_option(const char *opt, const char *arg, uint64_t *out)
{
	int ret = parse_u64(arg, out);

	if (ret == -ERANGE)
		return errx_usage("%s '%s': value out of range", opt, clip(arg));
	if (ret)
		return errx_usage("%s '%s': not a number (use decimal or 0x-hex, optional K/M/G/T)",
				  opt, clip(arg));
	return 0;
}

int pid_option(const char *opt, const char *arg, pid_t *out)
{
	if (parse_pid(arg, out))
		return errx_usage("%s '%s': not a valid PID", opt, clip(arg));
	return 0;
}

int check_not_self(pid_t pid, const char *opt)
{
	/* the library would only learn that ptrace refuses: say why first */
	if (pid == getpid())
		return errx_usage("%s %d is pgclone itself, which cannot work on its own memory",
				  opt, (int)pid);
	return 0;
}

int check_pid_exists(pid_t pid, const char *opt)
{
	if (kill(pid, 0) && errno == ESRCH)
		return errx_usage("%s %d: no such process", opt, (int)pid);
	return 0;
}

void format_prot(uint32_t prot, bool shared, char out[5])
{
	out[0] = prot & PROT_READ ? 'r' : '-';
	out[1] = prot & PROT_WRITE ? 'w' : '-';
	out[2] = prot & PROT_EXEC ? 'x' : '-';
	out[3] = shared ? 's' : 'p';
	out[4] = '\0';
}

static void log_to_stderr(void *ctx, enum pgclone_log_level level,
			  const char *msg)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	/* errors reach the user once, from pgclone_last_error() */
	if (level == PGCLONE_LOG_ERROR)
		return;
	fprintf(stderr, "%s: %s: ", prog, names[level]);
	fputs_escaped(msg, stderr);
	fputc('\n', stderr);
}

void install_log(struct cli *cli)
{
	enum pgclone_log_level lvl = PGCLONE_LOG_WARN;

	if (cli->quiet)
		lvl = PGCLONE_LOG_ERROR;
	else if (cli->verbose >= 2)
		lvl = PGCLONE_LOG_DEBUG;
	else if (cli->verbose)
		lvl = PGCLONE_LOG_INFO;
	pgclone_set_log(lvl > PGCLONE_LOG_ERROR ? log_to_stderr : NULL, cli, lvl);
}

static int run(int argc, char **argv)
{
	struct cli cli = { 0 };

	if (priv_refuse_setid())
		return EXIT_FAILED;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return EXIT_DONE;
	}
	if (argc > 1 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		print_version();
		return EXIT_DONE;
	}
	static const struct {
		const char *name;
		int (*fn)(int, char **, struct cli *);
	} cmds[] = {
		{ "maps", cmd_maps }, { "dump", cmd_dump },
		{ "restore", cmd_restore }, { "show", cmd_show },
		{ "verify", cmd_verify },
	};

	for (size_t i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1, &cli);
	if (argc > 1 && !strcmp(argv[1], "clone"))
		return cmd_clone(argc - 1, argv + 1, &cli);
	if (argc > 1 && argv[1][0] != '-')
		return errx_usage("unknown command '%s'; try '%s --help'",
				  clip(argv[1]), prog);
	if (argc < 2)
		return errx_usage("nothing to do: --pid, --src and --dst are required; try '%s --help'",
				  prog);
	return cmd_clone(argc, argv, &cli);
}

int main(int argc, char **argv)
{
	/* started with standard input closed (<&-): "-i -" says so */
	stdin_closed = hold_closed_fd(STDIN_FILENO);
	output_init();
	return output_exit(run(argc, argv));
}
