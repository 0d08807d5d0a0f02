/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for arch/x86/include/asm/page_types.h (4 KiB pages). */
#ifndef _SHIM_ASM_PAGE_H
#define _SHIM_ASM_PAGE_H
#define PAGE_SHIFT	12
#define PAGE_SIZE	(1UL << PAGE_SHIFT)
#define PAGE_MASK	(~(PAGE_SIZE - 1))
#endif
