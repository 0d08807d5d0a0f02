/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/rdma/ib_verbs.h (CONFIG_INFINIBAND off). */
