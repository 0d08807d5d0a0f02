/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/moduleparam.h; parse_args() is an approximation
 * of kernel/params.c (kernel/shim/include/kshim.c) that hands every parameter to `unknown`. */
#ifndef _SHIM_LINUX_MODULEPARAM_H
#define _SHIM_LINUX_MODULEPARAM_H
#include <linux/types.h>
#include <linux/init.h>
struct kernel_param;
struct kernel_param_ops {
	unsigned int flags;
	int (*set)(const char *val, const struct kernel_param *kp);
	int (*get)(char *buffer, const struct kernel_param *kp);
	void (*free)(void *arg);
};
struct kernel_param {
	const char *name;
	struct module *mod;
	const struct kernel_param_ops *ops;
	const u16 perm;
	s8 level;
	u8 flags;
	union {
		void *arg;
		const struct kparam_string *str;
		const struct kparam_array *arr;
	};
};
#define module_param(name, type, perm)
#define module_param_named(name, value, type, perm)
#define module_param_cb(name, ops, arg, perm)
#define core_param(name, var, type, perm)
#define MODULE_PARM_DESC(var, desc)
char *parse_args(const char *name, char *args, const struct kernel_param *params,
		 unsigned num, s16 level_min, s16 level_max, void *arg,
		 int (*unknown)(char *param, char *val, const char *doing, void *arg));
#endif
