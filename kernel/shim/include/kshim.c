// SPDX-License-Identifier: GPL-2.0
/*
 * dyndiet shim: the C side of kernel/shim/include (written for dyndiet, not kernel code).
 *
 * What the shim headers declare and the kernel files built here call: the lib/string.c and
 * mm/util.c extras, kmalloc through the harness, printk (lib/vsprintf.c approximated: the C
 * library formats each conversion, %pV is expanded here), fs/seq_file.c (approximated, see
 * seq_read), the mutex and static-key counters, `current`, user copies, kernel/params.c's
 * parse_args (approximated), the module notifier chain, and stubs for debugfs/procfs/devres.
 * Everything reports into the harness (kernel/shim/harness.h).
 */
#include <linux/kernel.h>
#include <linux/ctype.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/printk.h>
#include <linux/mutex.h>
#include <linux/jump_label.h>
#include <linux/sched.h>
#include <linux/uaccess.h>
#include <linux/seq_file.h>
#include <linux/moduleparam.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/mm.h>
#include <linux/fs.h>
#include "harness.h"
#include "lib/kstrtox.h"	/* the kernel's own _parse_integer helpers */

/* --- lib/hexdump.c ------------------------------------------------------------------------- */

const char hex_asc[] = "0123456789abcdef";
const char hex_asc_upper[] = "0123456789ABCDEF";

int hex_to_bin(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int hex2bin(u8 *dst, const char *src, size_t count)
{
	while (count--) {
		int hi = hex_to_bin(*src++), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hex_to_bin(*src++);
		if (lo < 0)
			return -EINVAL;
		*dst++ = (hi << 4) | lo;
	}
	return 0;
}

/* lib/cmdline.c:get_options, reduced: comma-separated integers, no ranges. */
char *get_options(const char *str, int nints, int *ints)
{
	int i = 1;
	char *p = (char *)str;

	while (p && *p && (nints == 0 || i < nints)) {
		long v = simple_strtol(p, &p, 0);

		if (nints)
			ints[i] = (int)v;
		i++;
		if (*p != ',')
			break;
		p++;
	}
	if (nints)
		ints[0] = i - 1;
	return p;
}

/* --- lib/vsprintf.c: simple_strto*(), over the kernel's lib/kstrtox.c parsers ---------------- */

static unsigned long long shim_simple_strntoull(const char *startp, char **endp,
						unsigned int base, size_t max_chars)
{
	const char *cp = _parse_integer_fixup_radix(startp, &base);
	unsigned long long result = 0;
	size_t prefix = cp - startp;

	if (prefix < max_chars) {
		unsigned int rv = _parse_integer_limit(cp, base, &result, max_chars - prefix);

		cp += (rv & ~KSTRTOX_OVERFLOW);
	} else {
		cp = startp + max_chars;
	}
	if (endp)
		*endp = (char *)cp;
	return result;
}

__weak unsigned long long simple_strtoull(const char *cp, char **endp, unsigned int base)
{
	return shim_simple_strntoull(cp, endp, base, INT_MAX);
}

__weak unsigned long simple_strtoul(const char *cp, char **endp, unsigned int base)
{
	return simple_strtoull(cp, endp, base);
}

__weak long simple_strtol(const char *cp, char **endp, unsigned int base)
{
	if (*cp == '-')
		return -simple_strtoul(cp + 1, endp, base);
	return simple_strtoul(cp, endp, base);
}

__weak long long simple_strtoll(const char *cp, char **endp, unsigned int base)
{
	if (*cp == '-')
		return -simple_strtoull(cp + 1, endp, base);
	return simple_strtoull(cp, endp, base);
}

/* --- lib/string.c, mm/util.c --------------------------------------------------------------- */

ssize_t strscpy(char *dest, const char *src, size_t count)
{
	size_t i;

	if (count == 0)
		return -E2BIG;
	for (i = 0; i < count; i++) {
		dest[i] = src[i];
		if (!src[i])
			return i;
	}
	dest[count - 1] = '\0';
	return -E2BIG;
}

__weak ssize_t strscpy_pad(char *dest, const char *src, size_t count)
{
	ssize_t n = strscpy(dest, src, count);
	size_t used = n < 0 ? count : (size_t)n + 1;

	if (used < count)
		memset(dest + used, 0, count - used);
	return n;
}

__weak char *skip_spaces(const char *str)
{
	while (isspace(*str))
		++str;
	return (char *)str;
}

__weak char *strim(char *s)
{
	size_t size = strlen(s);
	char *end;

	if (!size)
		return s;
	end = s + size - 1;
	while (end >= s && isspace(*end))
		end--;
	*(end + 1) = '\0';
	return skip_spaces(s);
}

__weak char *strreplace(char *str, char old, char new)
{
	for (; *str; ++str)
		if (*str == old)
			*str = new;
	return str;
}

__weak int match_string(const char * const *array, size_t n, const char *string)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!array[i])
			break;
		if (!strcmp(array[i], string))
			return i;
	}
	return -EINVAL;
}

__weak bool sysfs_streq(const char *s1, const char *s2)
{
	while (*s1 && *s1 == *s2) {
		s1++;
		s2++;
	}
	if (*s1 == *s2)
		return true;
	if (!*s1 && *s2 == '\n' && !s2[1])
		return true;
	if (*s1 == '\n' && !s1[1] && !*s2)
		return true;
	return false;
}

__weak int __sysfs_match_string(const char * const *array, size_t n, const char *str)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!array[i])
			break;
		if (sysfs_streq(array[i], str))
			return i;
	}
	return -EINVAL;
}

void *shim_kmalloc(size_t size, gfp_t flags, const char *file, int line)
{
	if (gfpflags_allow_blocking(flags))
		harness_might_sleep(file, line);
	if (size == 0)
		return ZERO_SIZE_PTR;
	return harness_kmalloc(size, !!(flags & __GFP_ZERO));
}

void *krealloc(const void *p, size_t new_size, gfp_t flags)
{
	void *n;
	size_t old = p && !ZERO_OR_NULL_PTR(p) ? harness_ksize(p) : 0;

	if (!new_size) {
		kfree(p);
		return ZERO_SIZE_PTR;
	}
	if (old >= new_size)
		return (void *)p;
	n = kmalloc(new_size, flags);
	if (n && old)
		memcpy(n, p, old);
	if (n)
		kfree(p);
	return n;
}

char *kstrdup(const char *s, gfp_t gfp)
{
	size_t len;
	char *buf;

	if (!s)
		return NULL;
	len = strlen(s) + 1;
	buf = kmalloc(len, gfp);
	if (buf)
		memcpy(buf, s, len);
	return buf;
}

const char *kstrdup_const(const char *s, gfp_t gfp)
{
	return kstrdup(s, gfp);
}

char *kstrndup(const char *s, size_t max, gfp_t gfp)
{
	size_t len;
	char *buf;

	if (!s)
		return NULL;
	len = strnlen(s, max);
	buf = kmalloc(len + 1, gfp);
	if (buf) {
		memcpy(buf, s, len);
		buf[len] = '\0';
	}
	return buf;
}

void *kmemdup(const void *src, size_t len, gfp_t gfp)
{
	void *p = kmalloc(len, gfp);

	if (p)
		memcpy(p, src, len);
	return p;
}

char *kmemdup_nul(const char *s, size_t len, gfp_t gfp)
{
	char *buf;

	if (!s)
		return NULL;
	buf = kmalloc(len + 1, gfp);
	if (buf) {
		memcpy(buf, s, len);
		buf[len] = '\0';
	}
	return buf;
}

void *memdup_user(const void __user *src, size_t len)
{
	void *p = kmalloc(len, GFP_USER | __GFP_NOWARN);

	if (!p)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(p, src, len)) {
		kfree(p);
		return ERR_PTR(-EFAULT);
	}
	return p;
}

char *memdup_user_nul(const void __user *src, size_t len)
{
	char *p = kmalloc(len + 1, GFP_KERNEL);

	if (!p)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(p, src, len)) {
		kfree(p);
		return ERR_PTR(-EFAULT);
	}
	p[len] = '\0';
	return p;
}

void *memchr_inv(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (; n; n--, p++)
		if (*p != (unsigned char)c)
			return (void *)p;
	return NULL;
}

/* --- user copies ----------------------------------------------------------------------------- */

unsigned long shim_copy_from_user(void *to, const void __user *from, unsigned long n,
				  const char *file, int line)
{
	harness_might_sleep(file, line);	/* might_fault() */
	if (!from && n)
		return n;
	memcpy(to, from, n);
	return 0;
}

unsigned long shim_copy_to_user(void __user *to, const void *from, unsigned long n,
				const char *file, int line)
{
	harness_might_sleep(file, line);
	if (!to && n)
		return n;
	memcpy(to, from, n);
	return 0;
}

/* --- printk: lib/vsprintf.c approximated ----------------------------------------------------
 * Each conversion is formatted by the C library's snprintf (same output for the integer,
 * character and string conversions the kernel files here use); %pV (struct va_format) is
 * expanded recursively as the kernel does; other %p extensions print the raw pointer. */

struct outbuf {
	char *buf;
	size_t size;
	size_t pos;
};

static void out_put(struct outbuf *o, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, o->pos++)
		if (o->pos + 1 < o->size)
			o->buf[o->pos] = s[i];
}

static void out_fmt(struct outbuf *o, const char *fmt, va_list ap);

static void out_one(struct outbuf *o, const char *spec, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, spec);
	n = vsnprintf(small, sizeof(small), spec, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		out_put(o, small, n);
	} else {
		char *big = harness_kmalloc(n + 1, 0);

		if (!big)
			return;
		va_start(ap, spec);
		vsnprintf(big, n + 1, spec, ap);
		va_end(ap);
		out_put(o, big, n);
		harness_kfree(big);
	}
}

static void out_fmt(struct outbuf *o, const char *fmt, va_list ap)
{
	while (*fmt) {
		char spec[32];
		size_t k = 0;
		int width = -1, prec = -1, star_w = 0, star_p = 0;
		int lng = 0;	/* 0 int, 1 long, 2 long long, -1 short, -2 char, 3 size_t */
		char conv;

		if (*fmt != '%') {
			const char *p = strchrnul(fmt, '%');

			out_put(o, fmt, p - fmt);
			fmt = p;
			continue;
		}
		spec[k++] = *fmt++;
		while (*fmt && strchr("-+ #0", *fmt) && k < 8)
			spec[k++] = *fmt++;
		if (*fmt == '*') {
			star_w = 1;
			width = va_arg(ap, int);
			fmt++;
		} else {
			while (isdigit(*fmt) && k < 16)
				spec[k++] = *fmt++;
		}
		if (*fmt == '.') {
			fmt++;
			if (*fmt == '*') {
				star_p = 1;
				prec = va_arg(ap, int);
				fmt++;
			} else {
				prec = 0;
				while (isdigit(*fmt))
					prec = prec * 10 + (*fmt++ - '0');
				star_p = 1;
			}
		}
		if (star_w)
			k += snprintf(spec + k, sizeof(spec) - k, "%d", width);
		if (star_p)
			k += snprintf(spec + k, sizeof(spec) - k, ".%d", prec);
		if (*fmt == 'h') {
			fmt++;
			lng = -1;
			if (*fmt == 'h') {
				fmt++;
				lng = -2;
			}
		} else if (*fmt == 'l') {
			fmt++;
			lng = 1;
			if (*fmt == 'l') {
				fmt++;
				lng = 2;
			}
		} else if (*fmt == 'z' || *fmt == 't' || *fmt == 'j') {
			fmt++;
			lng = 3;
		} else if (*fmt == 'L') {
			fmt++;
			lng = 2;
		}
		conv = *fmt;
		if (!conv)
			break;
		fmt++;
		switch (conv) {
		case '%':
			out_put(o, "%", 1);
			break;
		case 'c':
			spec[k++] = 'c';
			spec[k] = '\0';
			{
				int c = va_arg(ap, int);

				if ((char)c == '\0') {	/* vsnprintf would end the string here */
					char z = '\0';

					out_put(o, &z, 1);
				} else {
					out_one(o, spec, c);
				}
			}
			break;
		case 's':
			spec[k++] = 's';
			spec[k] = '\0';
			out_one(o, spec, va_arg(ap, const char *));
			break;
		case 'p':
			if (*fmt == 'V') {
				struct va_format *vaf = va_arg(ap, struct va_format *);
				va_list copy;

				fmt++;
				va_copy(copy, *vaf->va);
				out_fmt(o, vaf->fmt, copy);
				va_end(copy);
			} else {
				void *ptr = va_arg(ap, void *);

				while (isalnum(*fmt))
					fmt++;
				out_one(o, "%016lx", (unsigned long)ptr);
			}
			break;
		case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': {
			int sgn = conv == 'd' || conv == 'i';

			if (lng == 1 || lng == 3) {
				spec[k++] = 'l';
			} else if (lng == 2) {
				spec[k++] = 'l';
				spec[k++] = 'l';
			}
			spec[k++] = conv;
			spec[k] = '\0';
			if (lng == 1 || lng == 3) {
				if (sgn)
					out_one(o, spec, va_arg(ap, long));
				else
					out_one(o, spec, va_arg(ap, unsigned long));
			} else if (lng == 2) {
				if (sgn)
					out_one(o, spec, va_arg(ap, long long));
				else
					out_one(o, spec, va_arg(ap, unsigned long long));
			} else {
				unsigned int v = va_arg(ap, unsigned int);

				if (lng == -1)
					v = sgn ? (unsigned int)(int)(short)v : (unsigned short)v;
				else if (lng == -2)
					v = sgn ? (unsigned int)(int)(signed char)v : (unsigned char)v;
				out_one(o, spec, v);
			}
			break;
		}
		default:	/* the kernel prints an unknown conversion as-is */
			out_put(o, "%", 1);
			out_put(o, &conv, 1);
			break;
		}
	}
}

/* The kernel's vsnprintf: the length it would have written. */
static int shim_vsnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
	struct outbuf o = { buf, size, 0 };

	out_fmt(&o, fmt, args);
	if (size)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	return (int)o.pos;
}

int vscnprintf(char *buf, size_t size, const char *fmt, va_list args)
{
	int i = shim_vsnprintf(buf, size, fmt, args);

	if ((size_t)i < size)
		return i;
	return size ? (int)size - 1 : 0;
}

int scnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list args;
	int i;

	va_start(args, fmt);
	i = vscnprintf(buf, size, fmt, args);
	va_end(args);
	return i;
}

char *kvasprintf(gfp_t gfp, const char *fmt, va_list ap)
{
	va_list aq;
	int len;
	char *p;

	va_copy(aq, ap);
	len = shim_vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	p = kmalloc(len + 1, gfp);
	if (!p)
		return NULL;
	shim_vsnprintf(p, len + 1, fmt, ap);
	return p;
}

char *kasprintf(gfp_t gfp, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = kvasprintf(gfp, fmt, ap);
	va_end(ap);
	return p;
}

/* The last line printk() formatted (whole, before the level is taken off), for the glue. */
#define SHIM_PRINTK_MAX 1024
char shim_printk_last[SHIM_PRINTK_MAX];
int shim_printk_last_len;
int shim_printk_last_level;
static int last_level = 4;

/* kernel/printk/printk.c, reduced: the KERN_<n> prefix gives the level (default
 * MESSAGE_LOGLEVEL_DEFAULT, 4; KERN_CONT keeps the previous line's), one trailing newline is
 * dropped, the line goes to harness_log(level, text).  A NUL byte (%c of 0) stays in the
 * kernel's record; the harness takes C strings, so it is written "\x00", as /dev/kmsg shows it. */
int vprintk(const char *fmt, va_list args)
{
	char text[SHIM_PRINTK_MAX];
	int level = 4, len, cont = 0;
	const char *t = text;

	len = shim_vsnprintf(text, sizeof(text), fmt, args);
	if (len >= (int)sizeof(text))
		len = sizeof(text) - 1;
	while (t[0] == KERN_SOH_ASCII && t[1]) {
		if (t[1] >= '0' && t[1] <= '7')
			level = t[1] - '0';
		else if (t[1] == 'c')
			cont = 1;
		t += 2;
	}
	if (cont && level == 4)
		level = last_level;
	last_level = level;
	len -= t - text;
	memcpy(shim_printk_last, t, len);
	shim_printk_last[len] = '\0';
	shim_printk_last_len = len;
	shim_printk_last_level = level;
	if (len && t[len - 1] == '\n')
		len--;
	{
		char line[SHIM_PRINTK_MAX];
		int i, j;

		for (i = j = 0; i < len && j < SHIM_PRINTK_MAX - 5; i++) {
			if (t[i]) {
				line[j++] = t[i];
			} else {	/* as /dev/kmsg shows it */
				memcpy(line + j, "\\x00", 4);
				j += 4;
			}
		}
		line[j] = '\0';
		harness_log(level, line);
	}
	return len;
}

int _printk(const char *fmt, ...)
{
	va_list args;
	int r;

	va_start(args, fmt);
	r = vprintk(fmt, args);
	va_end(args);
	return r;
}

/* --- fs/seq_file.c, approximated ------------------------------------------------------------ */

int seq_open(struct file *file, const struct seq_operations *op)
{
	struct seq_file *p = kzalloc(sizeof(*p), GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	file->private_data = p;
	mutex_init(&p->lock);
	p->op = op;
	p->file = file;
	return 0;
}

int seq_open_private(struct file *file, const struct seq_operations *op, int psize)
{
	void *private = kzalloc(psize, GFP_KERNEL_ACCOUNT);
	int rc;

	if (!private)
		return -ENOMEM;
	rc = seq_open(file, op);
	if (rc) {
		kfree(private);
		return rc;
	}
	((struct seq_file *)file->private_data)->private = private;
	return 0;
}

int seq_release(struct inode *inode, struct file *file)
{
	struct seq_file *m = file->private_data;

	kvfree(m->buf);
	kfree(m);
	return 0;
}

int seq_release_private(struct inode *inode, struct file *file)
{
	struct seq_file *m = file->private_data;

	kfree(m->private);
	m->private = NULL;
	return seq_release(inode, file);
}

loff_t seq_lseek(struct file *file, loff_t offset, int whence)
{
	return -EINVAL;
}

static void seq_set_overflow(struct seq_file *m)
{
	m->count = m->size;
}

void seq_vprintf(struct seq_file *m, const char *f, va_list args)
{
	int len;

	if (m->count < m->size) {
		len = shim_vsnprintf(m->buf + m->count, m->size - m->count, f, args);
		if (m->count + len < m->size) {
			m->count += len;
			return;
		}
	}
	seq_set_overflow(m);
}

void seq_printf(struct seq_file *m, const char *f, ...)
{
	va_list args;

	va_start(args, f);
	seq_vprintf(m, f, args);
	va_end(args);
}

void seq_puts(struct seq_file *m, const char *s)
{
	size_t len = strlen(s);

	if (m->count + len >= m->size) {
		seq_set_overflow(m);
		return;
	}
	memcpy(m->buf + m->count, s, len);
	m->count += len;
}

void seq_putc(struct seq_file *m, char c)
{
	if (m->count >= m->size)
		return;
	m->buf[m->count++] = c;
}

void seq_write(struct seq_file *m, const void *data, size_t len)
{
	if (m->count + len < m->size) {
		memcpy(m->buf + m->count, data, len);
		m->count += len;
		return;
	}
	seq_set_overflow(m);
}

/* seq_get_buf + string_escape_mem (the kernel's, lib/string_helpers.c) + seq_commit */
void seq_escape_mem(struct seq_file *m, const char *src, size_t len, unsigned int flags,
		    const char *esc)
{
	size_t size;
	char *buf;
	int ret;

	BUG_ON(m->count > m->size);
	size = m->size - m->count;
	buf = m->count < m->size ? m->buf + m->count : NULL;
	ret = string_escape_mem(src, len, buf, size, flags, esc);
	if ((size_t)ret < size)
		m->count += ret;
	else
		seq_set_overflow(m);
}

/*
 * seq_read, approximating fs/seq_file.c:seq_read_iter: a PAGE_SIZE buffer, doubled (from a
 * fresh start() at the same index) while one record does not fit; then records are added
 * until the next would overflow or the reader's size is reached; stop() after each fill.  A
 * record the reader could not take whole stays in the buffer for the next read.  Not
 * modelled: lseek, a read position that moved (the control file is only read from 0 here).
 */
ssize_t seq_read(struct file *file, char __user *ubuf, size_t size, loff_t *ppos)
{
	struct seq_file *m = file->private_data;
	size_t copied = 0, n;
	void *p;
	int err = 0;

	mutex_lock(&m->lock);
	if (!m->buf) {
		m->size = PAGE_SIZE;
		m->buf = kvmalloc(m->size, GFP_KERNEL);
		if (!m->buf) {
			err = -ENOMEM;
			goto done;
		}
	}
	if (m->count) {
		n = min(m->count, size);
		if (copy_to_user(ubuf, m->buf + m->from, n)) {
			err = -EFAULT;
			goto done;
		}
		m->count -= n;
		m->from += n;
		copied += n;
		if (m->count || copied == size)
			goto done;
	}
	m->from = 0;
	p = m->op->start(m, &m->index);
	while (1) {
		err = PTR_ERR(p);
		if (!p || IS_ERR(p))
			break;
		err = m->op->show(m, p);
		if (err < 0)
			break;
		if (err > 0)	/* SEQ_SKIP */
			m->count = 0;
		if (!m->count) {
			p = m->op->next(m, p, &m->index);
			continue;
		}
		if (!seq_has_overflowed(m))
			goto fill;
		m->op->stop(m, p);
		kvfree(m->buf);
		m->count = 0;
		m->size <<= 1;
		m->buf = kvmalloc(m->size, GFP_KERNEL);
		if (!m->buf) {
			err = -ENOMEM;
			goto done;
		}
		p = m->op->start(m, &m->index);
	}
	m->op->stop(m, p);
	m->count = 0;
	goto done;
fill:
	while (1) {
		size_t offs = m->count;
		loff_t pos = m->index;

		p = m->op->next(m, p, &m->index);
		if (pos == m->index) {
			pr_info("buggy .next function did not update position index\n");
			m->index++;
		}
		if (!p || IS_ERR(p))
			break;
		if (m->count >= size - copied)
			break;
		err = m->op->show(m, p);
		if (err > 0) {
			m->count = offs;
		} else if (err || seq_has_overflowed(m)) {
			m->count = offs;
			break;
		}
	}
	m->op->stop(m, p);
	n = min(m->count, size - copied);
	if (copy_to_user(ubuf + copied, m->buf, n)) {
		err = -EFAULT;
		goto done;
	}
	copied += n;
	m->count -= n;
	m->from = n;
done:
	if (!copied) {
		copied = m->count ? -EFAULT : (err < 0 ? err : 0);
	} else {
		*ppos += copied;
		m->read_pos += copied;
	}
	mutex_unlock(&m->lock);
	return copied;
}

/* --- locks and static keys -------------------------------------------------------------------- */

void shim_mutex_lock(struct mutex *m, const char *file, int line)
{
	harness_might_sleep(file, line);
	if (m->locked)	/* one task per CPU: this task waits for itself */
		harness_fatal(HARNESS_EV_HANG, file, line, 0,
			      "INFO: task blocked on mutex %s held since %s:%d (self-deadlock)",
			      m->name ? m->name : "?", m->file ? m->file : "?", m->line);
	m->locked = 1;
	m->file = file;
	m->line = line;
}

int shim_mutex_trylock(struct mutex *m, const char *file, int line)
{
	if (m->locked)
		return 0;
	m->locked = 1;
	m->file = file;
	m->line = line;
	return 1;
}

void shim_mutex_unlock(struct mutex *m, const char *file, int line)
{
	if (!m->locked) {
		harness_splat(file, line, "DEBUG_LOCKS_WARN_ON: unlocking mutex %s that is not held",
			      m->name ? m->name : "?");
		return;
	}
	m->locked = 0;
}

/* kernel/jump_label.c:static_key_enable/disable (cpus_read_lock + jump_label_lock). */
void shim_static_key_enable(struct static_key *key, const char *file, int line)
{
	harness_might_sleep(file, line);
	if (atomic_read(&key->enabled) > 0) {
		if (atomic_read(&key->enabled) != 1)
			harness_warn(file, line, "atomic_read(&key->enabled) != 1");
		return;
	}
	atomic_set(&key->enabled, 1);
}

void shim_static_key_disable(struct static_key *key, const char *file, int line)
{
	harness_might_sleep(file, line);
	if (atomic_read(&key->enabled) != 1) {
		if (atomic_read(&key->enabled) != 0)
			harness_warn(file, line, "atomic_read(&key->enabled) != 0");
		return;
	}
	atomic_set(&key->enabled, 0);
}

/* --- current --------------------------------------------------------------------------------- */

static struct task_struct shim_tasks[HARNESS_NR_CPUS];

struct task_struct *shim_current(void)
{
	struct task_struct *t = &shim_tasks[harness_cpu];

	t->pid = harness_pid;
	if (!t->comm[0])
		strscpy(t->comm, "dyndiet", sizeof(t->comm));
	return t;
}

int get_cmdline(struct task_struct *task, char *buffer, int buflen)
{
	return strscpy(buffer, task->comm, buflen) < 0 ? buflen : (int)strlen(buffer);
}

char *file_path(struct file *f, char *buf, int buflen)
{
	if (strscpy(buf, "/dyndiet", buflen) < 0)
		return ERR_PTR(-ENAMETOOLONG);
	return buf;
}

/* --- kernel/params.c:parse_args, approximated -------------------------------------------------
 * Words are split as next_arg() splits them (double quotes group, `param="v a l"` drops the
 * quotes around the value); no parameter is known, so each goes to `unknown` with its
 * `doing`; a nonzero answer is logged as the kernel logs an unknown parameter; `--` ends the
 * parse. */
static char *shim_next_arg(char *args, char **param, char **val)
{
	size_t i, eq = 0;
	int in_quote = 0, quoted = 0;

	if (*args == '"') {
		args++;
		in_quote = quoted = 1;
	}
	for (i = 0; args[i]; i++) {
		if (isspace(args[i]) && !in_quote)
			break;
		if (!eq && args[i] == '=')
			eq = i;
		if (args[i] == '"')
			in_quote = !in_quote;
	}
	*param = args;
	*val = NULL;
	if (eq) {
		args[eq] = '\0';
		*val = args + eq + 1;
		if (**val == '"') {
			(*val)++;
			if (args[i - 1] == '"')
				args[i - 1] = '\0';
		}
	}
	if (quoted && i > 0 && args[i - 1] == '"')
		args[i - 1] = '\0';
	if (args[i]) {
		args[i] = '\0';
		args += i + 1;
	} else {
		args += i;
	}
	return skip_spaces(args);
}

char *parse_args(const char *doing, char *args, const struct kernel_param *params,
		 unsigned num, s16 min_level, s16 max_level, void *arg,
		 int (*unknown)(char *param, char *val, const char *doing, void *arg))
{
	char *param, *val;
	int ret;

	args = skip_spaces(args);
	while (*args) {
		args = shim_next_arg(args, &param, &val);
		if (!val && !strcmp(param, "--"))
			return args;
		ret = unknown ? unknown(param, val, doing, arg) : -ENOENT;
		if (ret == -ENOENT)
			pr_err("%s: Unknown parameter `%s'\n", doing, param);
		else if (ret == -ENOSPC)
			pr_err("%s: `%s' too large for parameter `%s'\n", doing, val ?: "", param);
		else if (ret < 0)
			pr_err("%s: `%s' invalid for parameter `%s'\n", doing, val ?: "", param);
		if (ret < 0)
			return ERR_PTR(ret);
	}
	return NULL;
}

char *saved_command_line;

/* --- the module notifier chain: one block --------------------------------------------------- */

struct notifier_block *shim_module_notifier;

int register_module_notifier(struct notifier_block *nb)
{
	shim_module_notifier = nb;
	return 0;
}

int unregister_module_notifier(struct notifier_block *nb)
{
	if (shim_module_notifier == nb)
		shim_module_notifier = NULL;
	return 0;
}

/* --- debugfs, procfs, devices: stubs ------------------------------------------------------- */

static int shim_dentry_dummy, shim_proc_dummy;

bool debugfs_initialized(void)
{
	return true;
}

struct dentry *debugfs_create_dir(const char *name, struct dentry *parent)
{
	return (struct dentry *)&shim_dentry_dummy;
}

struct dentry *debugfs_create_file(const char *name, umode_t mode, struct dentry *parent,
				   void *data, const struct file_operations *fops)
{
	return (struct dentry *)&shim_dentry_dummy;
}

struct proc_dir_entry *proc_mkdir(const char *name, struct proc_dir_entry *parent)
{
	return (struct proc_dir_entry *)&shim_proc_dummy;
}

struct proc_dir_entry *proc_create(const char *name, umode_t mode,
				   struct proc_dir_entry *parent, const struct proc_ops *ops)
{
	return (struct proc_dir_entry *)&shim_proc_dummy;
}

const char *dev_driver_string(const struct device *dev)
{
	return dev->driver && dev->driver->name ? dev->driver->name : "";
}

int dev_printk_emit(int level, const struct device *dev, const char *fmt, ...)
{
	char buf[SHIM_PRINTK_MAX];
	va_list args;

	va_start(args, fmt);
	shim_vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	return _printk("\001%c%s", '0' + level, buf);
}

void *devres_alloc(dr_release_t release, size_t size, gfp_t gfp)
{
	return kmalloc(size, gfp | __GFP_ZERO);
}

void devres_add(struct device *dev, void *res)
{
}

void devres_free(void *res)
{
	kfree(res);
}
