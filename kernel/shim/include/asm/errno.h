/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for arch/x86/include/generated/uapi/asm/errno.h. */
#include <asm-generic/errno.h>
