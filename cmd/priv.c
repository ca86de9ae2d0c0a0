// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * priv.c - least privilege for the pgclone program.
 *
 * pgclone needs privilege only to reach other users' processes: ptrace
 * and process_vm_* (CAP_SYS_PTRACE), /proc/PID/map_files and page frame
 * numbers in pagemap (CAP_SYS_ADMIN, or CAP_CHECKPOINT_RESTORE for
 * map_files), another user's /proc/PID directories (CAP_DAC_READ_SEARCH),
 * and a helper that takes the target's credentials to hand it a file
 * (CAP_SETUID, CAP_SETGID).  Whatever it runs with -- root, or the file
 * capabilities of pgclone(1) -- it keeps only those, and only for the
 * commands that touch processes; files the user names (images) are
 * opened with no capability in effect, so that pgclone never opens a file
 * the user could not; and show/verify, which only parse an image, run
 * with none at all.  A setuid or setgid pgclone is refused: it would act
 * with the owner's identity on behalf of any user.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"

static const cap_value_t process_caps[] = {
	CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_CHECKPOINT_RESTORE,
	CAP_DAC_READ_SEARCH, CAP_SETUID, CAP_SETGID,
};

int priv_refuse_setid(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (getresuid(&r, &e, &s) || getresgid(&rg, &eg, &sg))
		return errx_usage("cannot read my own credentials: %s", strerror(errno)), -1;
	if (getauxval(AT_SECURE) && (r != e || r != s || rg != eg || rg != sg)) {
		fprintf(stderr, "%s: refusing to run setuid or setgid; "
			"grant file capabilities instead (see pgclone(1), PRIVILEGES)\n", prog);
		return -1;
	}
	return 0;
}

/*
 * Reduce the permitted set to what @need allows (nothing for PRIV_NONE),
 * and leave the effective set empty: libpgclone makes one effective only
 * around the call that needs it (lib/priv.c), so none is in effect while
 * a file the user named is opened or anything is parsed.  Dropping is
 * permanent.
 */
int priv_limit(enum priv_need need)
{
	cap_t now = cap_get_proc(), keep = cap_init();
	cap_flag_value_t on;
	int ret = -1;

	if (!now || !keep)
		goto out;
	for (size_t i = 0; need == PRIV_PROCESS && i < sizeof(process_caps) / sizeof(process_caps[0]); i++) {
		if (!CAP_IS_SUPPORTED(process_caps[i]) ||
		    cap_get_flag(now, process_caps[i], CAP_PERMITTED, &on) || on != CAP_SET)
			continue;
		if (cap_set_flag(keep, CAP_PERMITTED, 1, &process_caps[i], CAP_SET))
			goto out;
	}
	/* root's uid 0 alone must not bring the capabilities back on exec */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		goto out;
	if (cap_set_proc(keep))
		goto out;
	if (CAP_AMBIENT_SUPPORTED())
		cap_reset_ambient();
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "%s: cannot drop capabilities: %s\n", prog, strerror(errno));
	cap_free(now);
	cap_free(keep);
	return ret;
}
