/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/jump_label.h: a static key is its enabled count
 * (no code patching); struct static_key has the kernel's layout under CONFIG_JUMP_LABEL, so
 * struct _ddebug keeps its size.  Enabling/disabling takes cpus_read_lock + jump_label_lock
 * in the kernel: a might_sleep() point. */
#ifndef _SHIM_LINUX_JUMP_LABEL_H
#define _SHIM_LINUX_JUMP_LABEL_H
#include <linux/types.h>
#include <linux/atomic.h>
#include <linux/bug.h>
#include "harness.h"

struct static_key {
	atomic_t enabled;
#ifdef CONFIG_JUMP_LABEL
	union {
		unsigned long type;
		struct jump_entry *entries;
		struct static_key_mod *next;
	};
#endif
};
struct static_key_true { struct static_key key; };
struct static_key_false { struct static_key key; };

#define JUMP_TYPE_FALSE		0UL
#define JUMP_TYPE_TRUE		1UL
#ifdef CONFIG_JUMP_LABEL
#define STATIC_KEY_INIT_TRUE	{ .enabled = { 1 }, { .type = JUMP_TYPE_TRUE } }
#define STATIC_KEY_INIT_FALSE	{ .enabled = { 0 }, { .type = JUMP_TYPE_FALSE } }
#else
#define STATIC_KEY_INIT_TRUE	{ .enabled = { 1 } }
#define STATIC_KEY_INIT_FALSE	{ .enabled = { 0 } }
#endif
#define STATIC_KEY_TRUE_INIT	(struct static_key_true) { .key = STATIC_KEY_INIT_TRUE }
#define STATIC_KEY_FALSE_INIT	(struct static_key_false) { .key = STATIC_KEY_INIT_FALSE }
#define DEFINE_STATIC_KEY_TRUE(name)	struct static_key_true name = STATIC_KEY_TRUE_INIT
#define DEFINE_STATIC_KEY_FALSE(name)	struct static_key_false name = STATIC_KEY_FALSE_INIT

static inline int static_key_count(struct static_key *key) { return atomic_read(&key->enabled); }
#define static_key_enabled(x)		(static_key_count((struct static_key *)(x)) > 0)
#define static_branch_likely(x)		likely(static_key_enabled(&(x)->key))
#define static_branch_unlikely(x)	unlikely(static_key_enabled(&(x)->key))

void shim_static_key_enable(struct static_key *key, const char *file, int line);
void shim_static_key_disable(struct static_key *key, const char *file, int line);
#define static_key_enable(k)	shim_static_key_enable((k), __FILE__, __LINE__)
#define static_key_disable(k)	shim_static_key_disable((k), __FILE__, __LINE__)
#define static_branch_enable(x)	static_key_enable(&(x)->key)
#define static_branch_disable(x) static_key_disable(&(x)->key)
#endif
