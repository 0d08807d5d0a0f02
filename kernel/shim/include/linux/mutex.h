/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/mutex.h: a mutex is a checked counter.  Locking
 * is a might_sleep() point at the caller's file:line; locking a held mutex (one task per CPU:
 * a self-deadlock) is a fatal hang event; unlocking a free one is a splat. */
#ifndef _SHIM_LINUX_MUTEX_H
#define _SHIM_LINUX_MUTEX_H
#include <linux/types.h>
#include "harness.h"
struct mutex {
	int locked;
	const char *name;
	const char *file;	/* where it was taken */
	int line;
};
#define __MUTEX_INITIALIZER(lockname) { .locked = 0, .name = #lockname }
#define DEFINE_MUTEX(mutexname) struct mutex mutexname = __MUTEX_INITIALIZER(mutexname)
#define mutex_init(m) do { (m)->locked = 0; (m)->name = #m; } while (0)
void shim_mutex_lock(struct mutex *m, const char *file, int line);
void shim_mutex_unlock(struct mutex *m, const char *file, int line);
int shim_mutex_trylock(struct mutex *m, const char *file, int line);
#define mutex_lock(m)		shim_mutex_lock((m), __FILE__, __LINE__)
#define mutex_unlock(m)		shim_mutex_unlock((m), __FILE__, __LINE__)
#define mutex_trylock(m)	shim_mutex_trylock((m), __FILE__, __LINE__)
#define mutex_is_locked(m)	((m)->locked != 0)
#define lockdep_assert_held(m)	do { if (!(m)->locked) harness_warn(__FILE__, __LINE__, "lockdep_assert_held(" #m ")"); } while (0)
#endif
