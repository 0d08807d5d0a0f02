/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/fs.h (an open file is its private_data and pos). */
#ifndef _SHIM_LINUX_FS_H
#define _SHIM_LINUX_FS_H
#include <linux/types.h>
struct inode { int i_ino; };
struct file {
	void *private_data;
	loff_t f_pos;
	struct inode *f_inode;
};
struct kiocb;
struct iov_iter;
struct file_operations {
	struct module *owner;
	loff_t (*llseek)(struct file *, loff_t, int);
	ssize_t (*read)(struct file *, char __user *, size_t, loff_t *);
	ssize_t (*write)(struct file *, const char __user *, size_t, loff_t *);
	ssize_t (*read_iter)(struct kiocb *, struct iov_iter *);
	int (*open)(struct inode *, struct file *);
	int (*release)(struct inode *, struct file *);
};
char *file_path(struct file *f, char *buf, int buflen);
#endif
