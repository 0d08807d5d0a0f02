/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/minmax.h (statement expressions, no type checks). */
#ifndef _SHIM_LINUX_MINMAX_H
#define _SHIM_LINUX_MINMAX_H
#define min(x, y)		({ typeof(x) _x = (x); typeof(y) _y = (y); _x < _y ? _x : _y; })
#define max(x, y)		({ typeof(x) _x = (x); typeof(y) _y = (y); _x > _y ? _x : _y; })
#define min_t(t, x, y)		({ t _x = (x); t _y = (y); _x < _y ? _x : _y; })
#define max_t(t, x, y)		({ t _x = (x); t _y = (y); _x > _y ? _x : _y; })
#define umin(x, y)		min_t(unsigned long long, (x), (y))
#define umax(x, y)		max_t(unsigned long long, (x), (y))
#define clamp(v, lo, hi)	min(max(v, lo), hi)
#define clamp_t(t, v, lo, hi)	min_t(t, max_t(t, v, lo), hi)
#define swap(a, b)		do { typeof(a) __t = (a); (a) = (b); (b) = __t; } while (0)
#endif
