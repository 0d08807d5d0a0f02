/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/device.h (+ dev_printk.h, devres): a named
 * device; devres is a plain allocation (no device ever goes away here). */
#ifndef _SHIM_LINUX_DEVICE_H
#define _SHIM_LINUX_DEVICE_H
#include <linux/types.h>
#include <linux/gfp.h>
#include <linux/printk.h>
struct device_driver { const char *name; };
struct device {
	struct device *parent;
	const char *init_name;
	struct device_driver *driver;
};
static inline const char *dev_name(const struct device *dev) { return dev->init_name; }
const char *dev_driver_string(const struct device *dev);
__printf(3, 4) int dev_printk_emit(int level, const struct device *dev, const char *fmt, ...);
typedef void (*dr_release_t)(struct device *dev, void *res);
void *devres_alloc(dr_release_t release, size_t size, gfp_t gfp);
void devres_add(struct device *dev, void *res);
void devres_free(void *res);
#endif
