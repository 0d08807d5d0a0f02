/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/sched.h: `current` is the harness CPU's task,
 * task_pid_vnr(current) is harness_pid. */
#ifndef _SHIM_LINUX_SCHED_H
#define _SHIM_LINUX_SCHED_H
#include <linux/types.h>
#include <linux/preempt.h>
#include "harness.h"
struct mm_struct;
struct task_struct {
	pid_t pid;
	char comm[16];
	struct mm_struct *mm;
};
struct task_struct *shim_current(void);
#define current shim_current()
static inline pid_t task_pid_vnr(struct task_struct *tsk) { return tsk->pid; }
static inline pid_t task_pid_nr(struct task_struct *tsk) { return tsk->pid; }
#endif
