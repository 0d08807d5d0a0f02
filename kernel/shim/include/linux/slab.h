/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/slab.h: kmalloc and friends go to
 * harness_kmalloc (fault injection, poison); a blocking gfp is a might_sleep() point, as
 * might_alloc() makes it in mm/slab.h. */
#ifndef _SHIM_LINUX_SLAB_H
#define _SHIM_LINUX_SLAB_H
#include <linux/types.h>
#include <linux/gfp.h>
#include <linux/overflow.h>
#include "harness.h"

void *shim_kmalloc(size_t size, gfp_t flags, const char *file, int line);
#define kmalloc(size, flags)	shim_kmalloc((size), (flags), __FILE__, __LINE__)
#define kzalloc(size, flags)	kmalloc((size), (flags) | __GFP_ZERO)
#define kvmalloc(size, flags)	kmalloc((size), (flags))
#define kvzalloc(size, flags)	kzalloc((size), (flags))
#define kmalloc_array(n, size, flags) \
	({ size_t __b; check_mul_overflow((size_t)(n), (size_t)(size), &__b) ? NULL : \
	   kmalloc(__b, (flags)); })
#define kcalloc(n, size, flags)	kmalloc_array((n), (size), (flags) | __GFP_ZERO)
#define kvmalloc_array		kmalloc_array
#define kvcalloc		kcalloc
static inline void kfree(const void *p) { harness_kfree(p); }
static inline void kvfree(const void *p) { harness_kfree(p); }
static inline void kfree_sensitive(const void *p) { harness_kfree(p); }
static inline size_t ksize(const void *p) { return harness_ksize(p); }
void *krealloc(const void *p, size_t new_size, gfp_t flags);
#define ZERO_SIZE_PTR ((void *)16)
#define ZERO_OR_NULL_PTR(x) ((unsigned long)(x) <= (unsigned long)ZERO_SIZE_PTR)
#endif
