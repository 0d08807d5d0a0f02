/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/bug.h + asm-generic/bug.h: BUG() is fatal through
 * the harness (the entry returns), WARN*() is a survived splat event; nothing aborts. */
#ifndef _SHIM_LINUX_BUG_H
#define _SHIM_LINUX_BUG_H
#include <linux/compiler.h>
#include <linux/build_bug.h>
#include "harness.h"

#define BUG()		harness_bug(__FILE__, __LINE__)
#define BUG_ON(cond)	do { if (unlikely(cond)) BUG(); } while (0)
#define WARN_ON(cond) ({						\
	int __ret_warn_on = !!(cond);					\
	if (unlikely(__ret_warn_on))					\
		harness_warn(__FILE__, __LINE__, #cond);		\
	unlikely(__ret_warn_on);					\
})
#define WARN(cond, fmt...) ({						\
	int __ret_warn_on = !!(cond);					\
	if (unlikely(__ret_warn_on))					\
		harness_warn(__FILE__, __LINE__, #cond);		\
	unlikely(__ret_warn_on);					\
})
#define WARN_ON_ONCE(cond)		WARN_ON(cond)
#define WARN_ONCE(cond, fmt...)		WARN(cond, fmt)
#define WARN_TAINT(cond, t, fmt...)	WARN(cond, fmt)
#endif
