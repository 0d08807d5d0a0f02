/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/sysctl.h (nothing of it is used). */
