/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/uaccess.h: a user buffer is a plain pointer the
 * harness hands in; copying from it is a might_sleep() point (a fault may sleep), NULL faults
 * (-EFAULT). */
#ifndef _SHIM_LINUX_UACCESS_H
#define _SHIM_LINUX_UACCESS_H
#include <linux/types.h>
#include <linux/string.h>
#include "harness.h"
unsigned long shim_copy_from_user(void *to, const void __user *from, unsigned long n,
				  const char *file, int line);
unsigned long shim_copy_to_user(void __user *to, const void *from, unsigned long n,
				const char *file, int line);
#define copy_from_user(to, from, n)	shim_copy_from_user((to), (from), (n), __FILE__, __LINE__)
#define copy_to_user(to, from, n)	shim_copy_to_user((to), (from), (n), __FILE__, __LINE__)
#endif
