/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/preempt.h: preempt_count is the harness's, per
 * harness CPU, laid out as the kernel lays it out. */
#ifndef _SHIM_LINUX_PREEMPT_H
#define _SHIM_LINUX_PREEMPT_H
#include "harness.h"
#define PREEMPT_MASK	HARNESS_PREEMPT_MASK
#define SOFTIRQ_MASK	HARNESS_SOFTIRQ_MASK
#define HARDIRQ_MASK	HARNESS_HARDIRQ_MASK
#define NMI_MASK	HARNESS_NMI_MASK
#define SOFTIRQ_OFFSET	HARNESS_SOFTIRQ_OFFSET
#define HARDIRQ_OFFSET	HARNESS_HARDIRQ_OFFSET
#define preempt_count()	(harness_preempt_count())
#define hardirq_count()	(preempt_count() & HARDIRQ_MASK)
#define softirq_count()	(preempt_count() & SOFTIRQ_MASK)
#define irq_count()	(preempt_count() & (HARDIRQ_MASK | SOFTIRQ_MASK | NMI_MASK))
#define in_nmi()	(preempt_count() & NMI_MASK)
#define in_hardirq()	(hardirq_count())
#define in_irq()	(hardirq_count())
#define in_softirq()	(softirq_count())
#define in_interrupt()	(irq_count())
#define in_task()	(!(preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET)))
#define in_atomic()	(preempt_count() != 0)
#define preempt_disable()	do { harness_preempt_count()++; barrier(); } while (0)
#define preempt_enable()	do { barrier(); harness_preempt_count()--; } while (0)
#endif
