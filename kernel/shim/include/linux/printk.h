/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/printk.h + kern_levels.h: printk formats into a
 * buffer (kernel/shim/include/kshim.c, with %pV) and hands the line to harness_log(level). */
#ifndef _SHIM_LINUX_PRINTK_H
#define _SHIM_LINUX_PRINTK_H
#include <stdarg.h>
#include <linux/compiler.h>

#define KERN_SOH	"\001"
#define KERN_SOH_ASCII	'\001'
#define KERN_EMERG	KERN_SOH "0"
#define KERN_ALERT	KERN_SOH "1"
#define KERN_CRIT	KERN_SOH "2"
#define KERN_ERR	KERN_SOH "3"
#define KERN_WARNING	KERN_SOH "4"
#define KERN_NOTICE	KERN_SOH "5"
#define KERN_INFO	KERN_SOH "6"
#define KERN_DEBUG	KERN_SOH "7"
#define KERN_DEFAULT	""
#define KERN_CONT	KERN_SOH "c"
#define LOGLEVEL_DEBUG	7

struct va_format {
	const char *fmt;
	va_list *va;
};

__printf(1, 2) int _printk(const char *fmt, ...);
int vprintk(const char *fmt, va_list args);
#define printk(fmt, ...)	_printk(fmt, ##__VA_ARGS__)

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif
#define no_printk(fmt, ...) ({ if (0) _printk(fmt, ##__VA_ARGS__); 0; })
#define pr_emerg(fmt, ...)	printk(KERN_EMERG pr_fmt(fmt), ##__VA_ARGS__)
#define pr_alert(fmt, ...)	printk(KERN_ALERT pr_fmt(fmt), ##__VA_ARGS__)
#define pr_crit(fmt, ...)	printk(KERN_CRIT pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...)	printk(KERN_ERR pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...)	printk(KERN_WARNING pr_fmt(fmt), ##__VA_ARGS__)
#define pr_notice(fmt, ...)	printk(KERN_NOTICE pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...)	printk(KERN_INFO pr_fmt(fmt), ##__VA_ARGS__)
#define pr_cont(fmt, ...)	printk(KERN_CONT fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)	no_printk(KERN_DEBUG pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn_once		pr_warn
#define pr_err_once		pr_err
#define pr_info_once		pr_info
#define pr_err_ratelimited	pr_err
#define pr_warn_ratelimited	pr_warn
#define printk_ratelimited	printk
#endif
