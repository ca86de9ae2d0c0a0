/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef PGCLONE_ARCH_REGS_H
#define PGCLONE_ARCH_REGS_H

#include <sys/user.h>

struct pgc_regs {
	struct user_regs_struct r;
};

#endif
