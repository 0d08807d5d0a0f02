/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/atomic.h (one CPU runs at a time: plain ints). */
#ifndef _SHIM_LINUX_ATOMIC_H
#define _SHIM_LINUX_ATOMIC_H
#include <linux/types.h>
#define ATOMIC_INIT(i)		{ (i) }
#define atomic_read(v)		READ_ONCE((v)->counter)
#define atomic_set(v, i)	WRITE_ONCE((v)->counter, (i))
static inline void atomic_inc(atomic_t *v) { v->counter++; }
static inline void atomic_dec(atomic_t *v) { v->counter--; }
static inline int atomic_inc_return(atomic_t *v) { return ++v->counter; }
static inline int atomic_dec_return(atomic_t *v) { return --v->counter; }
static inline bool atomic_dec_and_test(atomic_t *v) { return --v->counter == 0; }
#endif
