/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/module.h: a struct module with what dynamic debug
 * reads (name, dyndbg_info, state) and the module notifier chain (one registered block). */
#ifndef _SHIM_LINUX_MODULE_H
#define _SHIM_LINUX_MODULE_H
#include <linux/types.h>
#include <linux/list.h>
#include <linux/init.h>
#include <linux/export.h>
#include <linux/moduleparam.h>
#include <linux/notifier.h>
#include <linux/dynamic_debug.h>

#define MODULE_NAME_LEN (64 - sizeof(unsigned long))
enum module_state {
	MODULE_STATE_LIVE,
	MODULE_STATE_COMING,
	MODULE_STATE_GOING,
	MODULE_STATE_UNFORMED,
};
struct module {
	enum module_state state;
	struct list_head list;
	char name[MODULE_NAME_LEN];
	char *args;
#ifdef CONFIG_DYNAMIC_DEBUG_CORE
	struct _ddebug_info dyndbg_info;
#endif
};
#define MODULE_LICENSE(x)
#define MODULE_AUTHOR(x)
#define MODULE_DESCRIPTION(x)
#define MODULE_ALIAS(x)
#define MODULE_PARM_DESC(var, desc)
#define MODULE_INFO(tag, info)
int register_module_notifier(struct notifier_block *nb);
int unregister_module_notifier(struct notifier_block *nb);
/* the block register_module_notifier() was given (kernel/module/main.c's chain, one entry) */
extern struct notifier_block *shim_module_notifier;
#endif
