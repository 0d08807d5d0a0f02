/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/seq_file.h; fs/seq_file.c is approximated in
 * kernel/shim/include/kshim.c (seq_read drives start/show/next/stop as the kernel does). */
#ifndef _SHIM_LINUX_SEQ_FILE_H
#define _SHIM_LINUX_SEQ_FILE_H
#include <linux/types.h>
#include <linux/string.h>
#include <linux/string_helpers.h>
#include <linux/fs.h>
#include <linux/mutex.h>

struct seq_operations;
struct seq_file {
	char *buf;
	size_t size;
	size_t from;
	size_t count;
	size_t pad_until;
	loff_t index;
	loff_t read_pos;
	struct mutex lock;
	const struct seq_operations *op;
	int poll_event;
	const struct file *file;
	void *private;
};
struct seq_operations {
	void *(*start)(struct seq_file *m, loff_t *pos);
	void (*stop)(struct seq_file *m, void *v);
	void *(*next)(struct seq_file *m, void *v, loff_t *pos);
	int (*show)(struct seq_file *m, void *v);
};
#define SEQ_START_TOKEN ((void *)1)
static inline bool seq_has_overflowed(struct seq_file *m) { return m->count == m->size; }

__printf(2, 3) void seq_printf(struct seq_file *m, const char *fmt, ...);
void seq_vprintf(struct seq_file *m, const char *fmt, va_list args);
void seq_puts(struct seq_file *m, const char *s);
void seq_putc(struct seq_file *m, char c);
void seq_write(struct seq_file *m, const void *data, size_t len);
void seq_escape_mem(struct seq_file *m, const char *src, size_t len, unsigned int flags,
		    const char *esc);
static inline void seq_escape_str(struct seq_file *m, const char *src, unsigned int flags,
				  const char *esc)
{
	seq_escape_mem(m, src, strlen(src), flags, esc);
}
static inline void seq_escape(struct seq_file *m, const char *s, const char *esc)
{
	seq_escape_str(m, s, ESCAPE_OCTAL, esc);
}
int seq_open(struct file *file, const struct seq_operations *op);
int seq_open_private(struct file *file, const struct seq_operations *op, int psize);
ssize_t seq_read(struct file *file, char __user *buf, size_t size, loff_t *ppos);
loff_t seq_lseek(struct file *file, loff_t offset, int whence);
int seq_release(struct inode *inode, struct file *file);
int seq_release_private(struct inode *inode, struct file *file);
#endif
