/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/netdevice.h (nothing of it is used: CONFIG_NET off). */
