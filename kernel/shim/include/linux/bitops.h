/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/bitops.h (+ asm-generic/bitops: one CPU at a time). */
#ifndef _SHIM_LINUX_BITOPS_H
#define _SHIM_LINUX_BITOPS_H
#include <linux/bits.h>
static inline bool test_bit(long nr, const volatile unsigned long *addr)
{
	return 1UL & (addr[BIT_WORD(nr)] >> (nr & (BITS_PER_LONG - 1)));
}
static inline void __set_bit(long nr, volatile unsigned long *addr)
{
	addr[BIT_WORD(nr)] |= BIT_MASK(nr);
}
static inline void __clear_bit(long nr, volatile unsigned long *addr)
{
	addr[BIT_WORD(nr)] &= ~BIT_MASK(nr);
}
#define set_bit __set_bit
#define clear_bit __clear_bit
static inline unsigned int hweight_long(unsigned long w) { return __builtin_popcountl(w); }
#endif
