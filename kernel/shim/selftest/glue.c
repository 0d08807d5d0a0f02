// SPDX-License-Identifier: GPL-2.0
/* The harness's own self-test area: a fault, a BUG, a hang and a sleeping call in atomic
 * context, each from a function that stands where kernel code would. */
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include "harness.h"

static int deref(volatile int *p) { return *p; }

int h_selftest(int what)
{
	volatile int spin = 1;
	HARNESS_ENTER(-1000);
	switch (what) {
	case 0: harness_logf(7, "hello %d", 42); break;
	case 1: deref((volatile int *)0x10); break;
	case 2: harness_bug(__FILE__, __LINE__); break;
	case 3: while (spin) ; break;
	case 4: harness_cpus[harness_cpu].preempt_count++;
		harness_might_sleep(__FILE__, __LINE__);
		harness_cpus[harness_cpu].preempt_count--; break;
	case 5: __builtin_trap(); break;
	case 6: {	/* a hang the watchdog cannot interrupt: only the parent's deadline ends it */
		sigset_t all;

		sigfillset(&all);
		sigprocmask(SIG_BLOCK, &all, NULL);
		while (spin)
			;
		break;
	}
	case 7: abort(); break;
	}
	HARNESS_LEAVE();
	return what;
}
