/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/mm.h (what lib/string_helpers.c names). */
#ifndef _SHIM_LINUX_MM_H
#define _SHIM_LINUX_MM_H
#include <linux/types.h>
#include <linux/gfp.h>
#include <asm/page.h>
struct task_struct;
int get_cmdline(struct task_struct *task, char *buffer, int buflen);
#endif
