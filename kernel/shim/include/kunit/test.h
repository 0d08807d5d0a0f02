/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/kunit/test.h (no KUnit). */
