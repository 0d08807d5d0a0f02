/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for arch/x86/include/asm/barrier.h (the harness runs one CPU at a
 * time, so the barriers only keep the compiler from reordering; release/acquire as the
 * kernel spells them). */
#ifndef _SHIM_ASM_BARRIER_H
#define _SHIM_ASM_BARRIER_H
#include <linux/compiler.h>
#define mb()	barrier()
#define rmb()	barrier()
#define wmb()	barrier()
#define smp_mb()	barrier()
#define smp_rmb()	barrier()
#define smp_wmb()	barrier()
#define smp_store_release(p, v)	do { barrier(); WRITE_ONCE(*(p), (v)); } while (0)
#define smp_load_acquire(p)	({ typeof(*(p)) ___v = READ_ONCE(*(p)); barrier(); ___v; })
#endif
