/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/compiler{,_types,_attributes}.h (GCC attributes). */
#ifndef _SHIM_LINUX_COMPILER_H
#define _SHIM_LINUX_COMPILER_H
#include <linux/kconfig.h>

#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)
#define __always_inline		inline __attribute__((__always_inline__))
#define noinline		__attribute__((__noinline__))
#define __printf(a, b)		__attribute__((__format__(printf, a, b)))
#define __scanf(a, b)		__attribute__((__format__(scanf, a, b)))
#define __must_check		__attribute__((__warn_unused_result__))
#define __used			__attribute__((__used__))
#define __maybe_unused		__attribute__((__unused__))
#define __always_unused		__attribute__((__unused__))
#define __aligned(x)		__attribute__((__aligned__(x)))
#define __packed		__attribute__((__packed__))
#define __section(s)		__attribute__((__section__(s)))
#define __weak			__attribute__((__weak__))
#define __cold			__attribute__((__cold__))
#define __pure			__attribute__((__pure__))
#define __noreturn		__attribute__((__noreturn__))
#define __attribute_const__	__attribute__((__const__))
#define __malloc		__attribute__((__malloc__))
#define __alloc_size(...)
#define __realloc_size(...)
#define __counted_by(m)
#define __nonstring
#define __no_sanitize_address
#define __visible
#define __force
#define __user
#define __kernel
#define __iomem
#define __rcu
#define __percpu
#define __must_hold(x)
#define __acquires(x)
#define __releases(x)
#define __cond_lock(x, c)	(c)
#define notrace
#define __diag_push()
#define __diag_pop()
#define fallthrough		__attribute__((__fallthrough__))
#define barrier()		__asm__ __volatile__("" : : : "memory")
#define __same_type(a, b)	__builtin_types_compatible_p(typeof(a), typeof(b))
#define __is_constexpr(x) \
	(sizeof(int) == sizeof(*(8 ? ((void *)((long)(x) * 0l)) : (int *)8)))
#define __must_be_array(a)	0
#define ___PASTE(a, b) a##b
#define __PASTE(a, b) ___PASTE(a, b)
#define __UNIQUE_ID(prefix) __PASTE(__PASTE(__UNIQUE_ID_, prefix), __COUNTER__)
#define __stringify_1(x...)	#x
#define __stringify(x...)	__stringify_1(x)
#define READ_ONCE(x)		(*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, val)	do { *(volatile typeof(x) *)&(x) = (val); } while (0)
#define OPTIMIZER_HIDE_VAR(var)	__asm__ ("" : "=r" (var) : "0" (var))
#define compiletime_assert(cond, msg) _Static_assert(cond, msg)
#endif
