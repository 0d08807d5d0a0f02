/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/types.h (the kernel's fixed-width and list types). */
#ifndef _SHIM_LINUX_TYPES_H
#define _SHIM_LINUX_TYPES_H
#include <stddef.h>
#include <stdbool.h>
#include <linux/compiler.h>

typedef unsigned char u8;		typedef signed char s8;
typedef unsigned short u16;		typedef signed short s16;
typedef unsigned int u32;		typedef signed int s32;
typedef unsigned long long u64;		typedef signed long long s64;
typedef u8 __u8; typedef u16 __u16; typedef u32 __u32; typedef u64 __u64;
typedef s8 __s8; typedef s16 __s16; typedef s32 __s32; typedef s64 __s64;
typedef u16 __le16; typedef u32 __le32; typedef u64 __le64;
typedef u16 __be16; typedef u32 __be32; typedef u64 __be64;
typedef long ssize_t;
typedef long long loff_t;
typedef unsigned long uintptr_t;
typedef unsigned long __kernel_size_t;
typedef long __kernel_ssize_t;
typedef unsigned int gfp_t;
typedef unsigned short umode_t;
typedef int pid_t;
typedef unsigned long phys_addr_t;
typedef unsigned long sector_t;
typedef unsigned long ulong;
typedef unsigned int uint;

typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;

#include <linux/limits.h>

struct list_head { struct list_head *next, *prev; };
struct hlist_head { struct hlist_node *first; };
struct hlist_node { struct hlist_node *next, **pprev; };
#endif
