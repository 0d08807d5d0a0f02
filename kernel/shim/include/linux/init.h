/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/init.h: init code stays resident; each initcall
 * registers with the harness at load (a constructor) and the glue runs a level when its step
 * comes (the late initcalls at the late-init step); __setup() handlers are only kept. */
#ifndef _SHIM_LINUX_INIT_H
#define _SHIM_LINUX_INIT_H
#include <linux/compiler.h>
#include "harness.h"
#define __init
#define __initdata
#define __initconst
#define __exit
#define __ref
#define __refdata
#define __init_or_module
#define __setup(str, fn) static int (*__setup_##fn)(char *) __used = fn
#define early_param(str, fn) __setup(str, fn)
#define __define_initcall(fn, level)						\
	static void __attribute__((constructor)) __harness_initcall_##fn(void)	\
	{ harness_register_initcall(level, fn, #fn); }
#define early_initcall(fn)	__define_initcall(fn, 0)
#define core_initcall(fn)	__define_initcall(fn, 1)
#define postcore_initcall(fn)	__define_initcall(fn, 2)
#define arch_initcall(fn)	__define_initcall(fn, 3)
#define subsys_initcall(fn)	__define_initcall(fn, 4)
#define fs_initcall(fn)		__define_initcall(fn, 5)
#define device_initcall(fn)	__define_initcall(fn, 6)
#define late_initcall(fn)	__define_initcall(fn, 7)
#define module_init(fn)		__define_initcall(fn, 6)
#define module_exit(fn)		static void (*__exitcall_##fn)(void) __used = fn
#endif
