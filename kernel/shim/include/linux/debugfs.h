/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/debugfs.h (entries are remembered, not served). */
#ifndef _SHIM_LINUX_DEBUGFS_H
#define _SHIM_LINUX_DEBUGFS_H
#include <linux/types.h>
#include <linux/fs.h>
struct dentry;
bool debugfs_initialized(void);
struct dentry *debugfs_create_dir(const char *name, struct dentry *parent);
struct dentry *debugfs_create_file(const char *name, umode_t mode, struct dentry *parent,
				   void *data, const struct file_operations *fops);
#endif
