/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/overflow.h (the GCC builtins it wraps). */
#ifndef _SHIM_LINUX_OVERFLOW_H
#define _SHIM_LINUX_OVERFLOW_H
#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d)	__builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d)	__builtin_mul_overflow(a, b, d)
#define struct_size(p, member, n)	(sizeof(*(p)) + sizeof(*(p)->member) * (n))
#define array_size(a, b)		((a) * (b))
#endif
