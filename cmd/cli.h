/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PGCLONE_CLI_H
#define PGCLONE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <pgclone.h>

/* Exit codes, documented in pgclone(1). */
enum {
	EXIT_DONE = 0,		/* success */
	EXIT_FAILED = 1,	/* failed; both processes unchanged */
	EXIT_USAGE = 2,		/* bad usage or input; nothing was touched */
	EXIT_INCOMPLETE = 3,	/* done (committed), but a later step failed */
};

struct cli {
	int verbose;		/* -v count */
	bool quiet;
	bool json;
};

extern const char *prog;
/* pgclone was started with standard input closed (fd 0 now /dev/null) */
extern bool stdin_closed;

int cmd_clone(int argc, char **argv, struct cli *cli);
int cmd_maps(int argc, char **argv, struct cli *cli);
int cmd_dump(int argc, char **argv, struct cli *cli);
int cmd_restore(int argc, char **argv, struct cli *cli);
int cmd_show(int argc, char **argv, struct cli *cli);
int cmd_verify(int argc, char **argv, struct cli *cli);

/* The options every command takes (handled by common_option()). */
#define CLI_COMMON_LONGOPTS						\
	{ "json", no_argument, NULL, 'J' },				\
	{ "verbose", no_argument, NULL, 'v' },				\
	{ "quiet", no_argument, NULL, 'q' },				\
	{ "help", no_argument, NULL, 'h' },				\
	{ "version", no_argument, NULL, 'V' },				\
	{ NULL, 0, NULL, 0 }

/* Parse an option's number or pid, or say what is wrong with it. */
int number_option(const char *opt, const char *arg, uint64_t *out);
int pid_option(const char *opt, const char *arg, pid_t *out);

/* options.c: the same option handling in every command */
struct option;
#define OPT_SEEN_MAX 512
/* @s cut to 64 characters and "...": an error line quotes, never floods */
const char *clip(const char *s);
/* "--dst" for 'd': an option is named by its name, never by its value */
const char *option_name(const struct option *longopts, int c);
/* refuse a single-valued option given twice (@seen: per command, zeroed) */
int option_once(const struct option *longopts, int c,
		const char *seen[OPT_SEEN_MAX]);
/* --track-method auto|soft-dirty|uffd-wp */
int track_method_option(const char *arg, enum pgclone_track_method *how);
/* --engine auto|kernel|copy */
int engine_option(const char *arg, enum pgclone_engine *engine);

/* --dst of every command goes through dst_option(): a word such as "auto"
 * is added there, once. */
struct dst_arg {
	uint64_t addr;
	bool automatic;		/* --dst auto: PGCLONE_DST_AUTO, addr 0 */
	bool given;
};
/* @image_default: the command has a meaning for no --dst (restore) */
int dst_option(const char *arg, bool image_default, struct dst_arg *d);

/* --src: an address, or the name of one mapping ("[heap]", "[stack]",
 * "[anon:NAME]", "/path/of/a/mapped/file") resolved by src_resolve() */
struct src_arg {
	uint64_t addr;
	const char *name;	/* NULL: addr was given */
	bool given;
};
int src_option(const char *arg, struct src_arg *s);
/* srcname.c: the mapping @s names in @pid (exactly one), or say why not */
int src_resolve(pid_t pid, struct src_arg *s);

/* -J, -v, -q and getopt's errors, shared by every command. */
int common_option(int c, char **argv, const struct option *longopts,
		  struct cli *cli);
/* "--pid PID": PID is not pgclone itself (it cannot trace itself) */
int check_not_self(pid_t pid, const char *opt);
/* One clear line on stderr, then the exit code for it. */
int errx_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Map a library error to our exit code and print its one line. */
int report_lib_error(int err, const char *what);
/*
 * After printing a command's report: if it could not be written, say so
 * and return the exit code (EXIT_INCOMPLETE when @done is what a committed
 * operation did, e.g. "cloned ... to 0x... in PID n"; else EXIT_FAILED);
 * @status when all was written.
 */
int check_report_written(FILE *out, int status, const char *done);
void install_log(struct cli *cli);
/* A process that does not exist is bad input: say so before any work. */
int check_pid_exists(pid_t pid, const char *opt);
void format_prot(uint32_t prot, bool shared, char out[5]);

/*
 * output.c: standard output reaches its reader, or the exit status says
 * it did not (util-linux's close_stdout()).
 */
void output_init(void);
/* Hold a closed standard descriptor with /dev/null; was it closed? */
bool hold_closed_fd(int fd);
/* The clone or restore is committed: an output failure now is EXIT_INCOMPLETE. */
void output_committed(void);
/* @status, or the status of a failed write to standard output. */
int output_exit(int status);
/* priv.c: least privilege (libcap) */
enum priv_need {
	PRIV_NONE,	/* parse an image: no capability at all */
	PRIV_PROCESS,	/* reach other users' processes */
};
int priv_refuse_setid(void);
int priv_limit(enum priv_need need);

/* input.c: open an image to read; the wait for a FIFO's writer ends on a
 * cancelling signal or after @timeout_ms (0: none); 0 or the exit code,
 * said */
int open_input(const char *path, unsigned int timeout_ms, int *fd);
/* --timeout SECONDS (decimals allowed) */
int timeout_option(const char *arg, unsigned int *ms);

/* sandbox.c: seccomp filters (libseccomp) */
int sandbox_image_parse(void);
int sandbox_process_work(long pvm_nr);
/* opts.ready: the library has inspected both processes; filter the rest */
int sandbox_ready(void *ctx);
/* the same for work that never calls process_vm_mmap(2) (--engine copy, restore) */
int sandbox_ready_copy(void *ctx);
/* opts.ready of a dump: the same, and every capability dropped first */
int sandbox_ready_dump(void *ctx);
int sandbox_ready_live(void *ctx);
/*
 * opts.ready of a dump --snapshot: the dump's filter, but the capabilities
 * that reach the source are kept, for the library stops it once more at
 * the end to reap the snapshot (a child of the source); and
 * process_vm_mmap(2) allowed, which the kernel's snapshot calls next
 */
int sandbox_ready_snapshot(void *ctx);
/* opts.confine: restore's image parser, a child; nothing but the image */
int sandbox_image_child(void *ctx);

/* progress.c: SIGINT/SIGTERM/SIGHUP cancel, a progress line on a TTY */
void cancel_on_signals(void);
/* The signal that asked to cancel, or 0. */
int cancel_signal(void);
/* For commands that hold nothing: a signal prints one line and exits 1. */
void exit_on_signals(void);
int progress_cb(void *ctx, uint64_t done, uint64_t total);
void progress_done(void);
/* dump --live: a line per round on a TTY, or always with --progress */
struct pgclone_live_round;
void set_live_progress(bool always);
void live_progress(void *ctx, const struct pgclone_live_round *r);

#endif
