/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/hardirq.h (in_interrupt() from the harness). */
#ifndef _SHIM_LINUX_HARDIRQ_H
#define _SHIM_LINUX_HARDIRQ_H
#include <linux/compiler.h>
#include <linux/preempt.h>
#endif
