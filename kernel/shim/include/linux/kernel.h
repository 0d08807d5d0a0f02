/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/kernel.h (+ minmax.h, container_of.h, hex.h). */
#ifndef _SHIM_LINUX_KERNEL_H
#define _SHIM_LINUX_KERNEL_H
#include <stdarg.h>
#include <linux/compiler.h>
#include <linux/types.h>
#include <linux/bits.h>
#include <linux/bitops.h>
#include <linux/minmax.h>
#include <linux/limits.h>
#include <linux/bug.h>
#include <linux/build_bug.h>
#include <linux/err.h>
#include <linux/errno.h>
#include <linux/printk.h>
#include <linux/kstrtox.h>
#include <linux/math64.h>
#include <linux/string.h>
#include <asm/page.h>

#define ARRAY_SIZE(arr)		(sizeof(arr) / sizeof((arr)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define ALIGN(x, a)		(((x) + ((typeof(x))(a) - 1)) & ~((typeof(x))(a) - 1))
#define IS_ALIGNED(x, a)	(((x) & ((typeof(x))(a) - 1)) == 0)
#define PTR_ALIGN(p, a)		((typeof(p))ALIGN((unsigned long)(p), (a)))

extern const char hex_asc[];
#define hex_asc_lo(x)	hex_asc[((x) & 0x0f)]
#define hex_asc_hi(x)	hex_asc[((x) & 0xf0) >> 4]
extern const char hex_asc_upper[];
int hex_to_bin(unsigned char ch);
int __must_check hex2bin(u8 *dst, const char *src, size_t count);
char *get_options(const char *str, int nints, int *ints);

__printf(3, 4) int snprintf(char *buf, size_t size, const char *fmt, ...);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list args);
__printf(3, 4) int scnprintf(char *buf, size_t size, const char *fmt, ...);
int vscnprintf(char *buf, size_t size, const char *fmt, va_list args);
__printf(2, 3) int sprintf(char *buf, const char *fmt, ...);
__printf(2, 3) __malloc char *kasprintf(gfp_t gfp, const char *fmt, ...);
__malloc char *kvasprintf(gfp_t gfp, const char *fmt, va_list args);

/* the boot command line dynamic_debug_init re-parses (init/main.c) */
extern char *saved_command_line;

#define might_sleep()		harness_might_sleep(__FILE__, __LINE__)
#define might_sleep_if(c)	do { if (c) might_sleep(); } while (0)
#define cond_resched()		({ might_sleep(); 0; })
#endif
