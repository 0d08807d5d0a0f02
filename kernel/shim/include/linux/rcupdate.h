/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/rcupdate.h.  A read-side critical section is a
 * preempt-disabled region (as CONFIG_PREEMPT_RCU=n has it), so sleeping inside one splats
 * "sleeping function called from invalid context"; synchronize_rcu() is a might_sleep()
 * point (one CPU runs at a time: every reader has finished when it is called). */
#ifndef _SHIM_LINUX_RCUPDATE_H
#define _SHIM_LINUX_RCUPDATE_H
#include <linux/compiler.h>
#include <linux/kernel.h>
#include <linux/preempt.h>
#define rcu_read_lock()		preempt_disable()
#define rcu_read_unlock()	preempt_enable()
#define rcu_dereference(p)	READ_ONCE(p)
#define rcu_dereference_raw(p)	READ_ONCE(p)
#define rcu_dereference_protected(p, c)	(p)
#define rcu_assign_pointer(p, v)	do { barrier(); WRITE_ONCE((p), (v)); } while (0)
#define RCU_INIT_POINTER(p, v)	WRITE_ONCE((p), (v))
#define synchronize_rcu()	might_sleep()
#endif
