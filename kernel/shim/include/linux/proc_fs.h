/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/proc_fs.h (entries are remembered, not served). */
#ifndef _SHIM_LINUX_PROC_FS_H
#define _SHIM_LINUX_PROC_FS_H
#include <linux/types.h>
#include <linux/fs.h>
struct proc_dir_entry;
struct proc_ops {
	unsigned int proc_flags;
	int (*proc_open)(struct inode *, struct file *);
	ssize_t (*proc_read)(struct file *, char __user *, size_t, loff_t *);
	ssize_t (*proc_write)(struct file *, const char __user *, size_t, loff_t *);
	loff_t (*proc_lseek)(struct file *, loff_t, int);
	int (*proc_release)(struct inode *, struct file *);
};
struct proc_dir_entry *proc_mkdir(const char *name, struct proc_dir_entry *parent);
struct proc_dir_entry *proc_create(const char *name, umode_t mode,
				   struct proc_dir_entry *parent, const struct proc_ops *ops);
#endif
