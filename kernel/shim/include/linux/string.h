/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/string.h: the C library's string functions plus
 * the kernel's extras (implemented in kernel/shim/include/kshim.c). */
#ifndef _SHIM_LINUX_STRING_H
#define _SHIM_LINUX_STRING_H
#include <stddef.h>
#include <linux/compiler.h>
#include <linux/types.h>
#include <linux/err.h>

size_t strlen(const char *s);
size_t strnlen(const char *s, size_t n);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
int strcasecmp(const char *a, const char *b);
int strncasecmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
char *strchrnul(const char *s, int c);
char *strpbrk(const char *s, const char *accept);
char *strstr(const char *h, const char *n);
char *strnstr(const char *h, const char *n, size_t len);
char *strsep(char **s, const char *delim);
size_t strspn(const char *s, const char *accept);
size_t strcspn(const char *s, const char *reject);
char *strcpy(char *d, const char *s);
char *strncpy(char *d, const char *s, size_t n);
char *strcat(char *d, const char *s);
char *strncat(char *d, const char *s, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlcpy(char *d, const char *s, size_t n);
size_t strlcat(char *d, const char *s, size_t n);

/* lib/string.c, lib/string_helpers.c, mm/util.c */
ssize_t strscpy(char *dest, const char *src, size_t count);
ssize_t strscpy_pad(char *dest, const char *src, size_t count);
char *skip_spaces(const char *str);
char *strim(char *s);
static inline char *strstrip(char *s) { return strim(s); }
char *strreplace(char *str, char old, char new);
int match_string(const char * const *array, size_t n, const char *string);
int __sysfs_match_string(const char * const *array, size_t n, const char *s);
#define sysfs_match_string(_a, _s) __sysfs_match_string(_a, ARRAY_SIZE(_a), _s)
bool sysfs_streq(const char *s1, const char *s2);
char *kstrdup(const char *s, gfp_t gfp);
const char *kstrdup_const(const char *s, gfp_t gfp);
char *kstrndup(const char *s, size_t max, gfp_t gfp);
void *kmemdup(const void *src, size_t len, gfp_t gfp);
char *kmemdup_nul(const char *s, size_t len, gfp_t gfp);
void *memdup_user(const void __user *src, size_t len);
char *memdup_user_nul(const void __user *src, size_t len);
void *memchr_inv(const void *s, int c, size_t n);

static inline const char *kbasename(const char *path)
{
	const char *tail = strrchr(path, '/');

	return tail ? tail + 1 : path;
}

void memcpy_and_pad(void *dest, size_t dest_len, const void *src, size_t count, int pad);
#endif
