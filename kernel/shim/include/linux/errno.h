/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/errno.h; the numbers are the kernel's own
 * (include/uapi/asm-generic/errno.h), plus the kernel-internal ones. */
#ifndef _SHIM_LINUX_ERRNO_H
#define _SHIM_LINUX_ERRNO_H
#include <asm-generic/errno.h>
#define ERESTARTSYS	512
#define ENOPARAM	519
#define ENOTSUPP	524
#endif
