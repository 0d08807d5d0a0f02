/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: everything mm/zsmalloc.c needs is in dd_zs_shim.h */
#include "../dd_zs_shim.h"
