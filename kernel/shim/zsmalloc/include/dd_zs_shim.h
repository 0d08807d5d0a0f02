/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dyndiet: the user-space kernel that mm/zsmalloc.c (6.1, 6.12) is built against.
 *
 * Written for dyndiet (not copied from the kernel): every linux/ and asm/ header that
 * mm/zsmalloc.c includes is a one-line shim in this directory that includes this file.  The one
 * kernel header read as it is, include/linux/zsmalloc.h, only needs <linux/types.h> (here).
 *
 * The machine: x86_64 without HIGHMEM, 4 KiB pages, HARNESS_NR_CPUS CPUs (harness.h), kernel
 * debug options on as a debug kernel has them: CONFIG_DEBUG_VM (VM_BUG_ON* are BUG_ON),
 * CONFIG_DEBUG_SPINLOCK/lockdep-like lock checks (as counters that flag misuse),
 * CONFIG_DEBUG_ATOMIC_SLEEP (might_sleep), page poisoning.  CONFIG_COMPACTION is on (pages are
 * movable, zs_page_{isolate,migrate,putback} are built); CONFIG_ZPOOL and CONFIG_ZSMALLOC_STAT
 * are off.
 *
 * Memory: an array of struct page over one page-aligned buffer of dd_zs_nr_pages pages
 * (pfn = index + DD_ZS_PFN_BASE); page_address/kmap are pointer arithmetic into the buffer.
 * Per-CPU data lives in the section "dd_zs_percpu"; each CPU but CPU 0 gets a copy of it and
 * this_cpu_ptr() adds that CPU's offset, as the kernel's per-CPU areas do.
 */
#ifndef DD_ZS_SHIM_H
#define DD_ZS_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <string.h>
#include <stdarg.h>

#include "harness.h"

/* ---- compiler, config --------------------------------------------------------------------- */

#define __KERNEL_SHIM_ZS 1
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __maybe_unused __attribute__((unused))
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define __init __attribute__((unused))
#define __exit __attribute__((unused))
#define __acquires(x)
#define __releases(x)
#define __must_check
#define __user
#define noinline __attribute__((noinline))
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define data_race(x) (x)

/* IS_ENABLED(CONFIG_X): 1 when CONFIG_X is defined to 1 (from the area's cflags), else 0. */
#define __dd_arg_placeholder_1 0,
#define __dd_take_second(ignored, val, ...) val
#define __dd_is_defined(x) __dd_is_defined1(x)
#define __dd_is_defined1(val) __dd_is_defined2(__dd_arg_placeholder_##val)
#define __dd_is_defined2(maybe) __dd_take_second(maybe 1, 0, 0)
#define IS_ENABLED(option) __dd_is_defined(option)

#define EXPORT_SYMBOL(sym) extern int __dd_export_##sym
#define EXPORT_SYMBOL_GPL(sym) extern int __dd_export_##sym
#define MODULE_LICENSE(x) extern int __dd_module_license
#define MODULE_AUTHOR(x) extern int __dd_module_author
#define MODULE_DESCRIPTION(x) extern int __dd_module_description
#define MODULE_ALIAS(x) extern int __dd_module_alias
#define module_init(fn) extern int __dd_module_init_##fn
#define module_exit(fn) extern int __dd_module_exit_##fn
#define THIS_MODULE ((struct module *)0)
struct module;

/* ---- types -------------------------------------------------------------------------------- */

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef unsigned int gfp_t;
typedef unsigned long phys_addr_t;
typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;
typedef struct { s64 counter; } atomic64_t;

struct page;

struct list_head {
	struct list_head *next, *prev;
};

#define BITS_PER_LONG 64
#define __DD_AC(X, Y) (X##Y)
#define _AC(X, Y) __DD_AC(X, Y)
#define _UL(x) (_AC(x, UL))
#define UL(x) (_UL(x))
#define BIT(nr) (1UL << (nr))
#define SZ_16M 0x01000000

#define PAGE_SHIFT 12
#define PAGE_SIZE (_AC(1, UL) << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define offset_in_page(p) ((unsigned long)(p) & ~PAGE_MASK)
/* arch/x86/include/asm/pgtable_64_types.h: x86_64 (with 5-level paging possible) */
#define MAX_POSSIBLE_PHYSMEM_BITS 52
#define MAX_PHYSMEM_BITS 46

/* ---- errno, ERR_PTR ----------------------------------------------------------------------- */

#define ENOENT 2
#define EAGAIN 11
#define ENOMEM 12
#define EBUSY 16
#define EINVAL 22
#define ENOSPC 28
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) unlikely((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)

static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }
static inline bool IS_ERR_OR_NULL(const void *ptr)
{
	return unlikely(!ptr) || IS_ERR_VALUE((unsigned long)ptr);
}

/* ---- arithmetic ------------------------------------------------------------------------- */

#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
/* a constant expression: ZS_MIN_ALLOC_SIZE sizes an array */
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define min(a, b) ({ __typeof__(a) __dd_a = (a); __typeof__(b) __dd_b = (b); \
		     __dd_a < __dd_b ? __dd_a : __dd_b; })
#define max(a, b) ({ __typeof__(a) __dd_a = (a); __typeof__(b) __dd_b = (b); \
		     __dd_a > __dd_b ? __dd_a : __dd_b; })
#define min_t(type, a, b) ({ type __dd_a = (a); type __dd_b = (b); \
			     __dd_a < __dd_b ? __dd_a : __dd_b; })
#define max_t(type, a, b) ({ type __dd_a = (a); type __dd_b = (b); \
			     __dd_a > __dd_b ? __dd_a : __dd_b; })
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BUILD_BUG_ON(cond) ((void)sizeof(char[1 - 2 * !!(cond)]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static inline bool is_power_of_2(unsigned long n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/* ---- BUG, WARN, printk ------------------------------------------------------------------ */

#define BUG() harness_bug(__FILE__, __LINE__)
#define BUG_ON(cond) do { if (unlikely(cond)) harness_bug(__FILE__, __LINE__); } while (0)
#define WARN_ON(cond) ({ int __dd_c = !!(cond); \
			 if (unlikely(__dd_c)) harness_warn(__FILE__, __LINE__, #cond); \
			 unlikely(__dd_c); })
#define WARN_ON_ONCE(cond) ({ static int __dd_once; int __dd_c = !!(cond); \
			      if (unlikely(__dd_c) && !__dd_once) { __dd_once = 1; \
				      harness_warn(__FILE__, __LINE__, #cond); } \
			      unlikely(__dd_c); })
/* CONFIG_DEBUG_VM */
void dd_zs_dump_page(struct page *page, const char *why);
#define VM_BUG_ON(cond) BUG_ON(cond)
#define VM_BUG_ON_PAGE(cond, page) do { if (unlikely(cond)) { \
		dd_zs_dump_page(page, "VM_BUG_ON_PAGE(" #cond ")"); \
		harness_bug(__FILE__, __LINE__); } } while (0)
#define VM_BUG_ON_FOLIO(cond, folio) VM_BUG_ON_PAGE(cond, (struct page *)(folio))
#define VM_WARN_ON(cond) ((void)WARN_ON(cond))
#define VM_WARN_ON_ONCE(cond) ((void)WARN_ON_ONCE(cond))

#ifndef pr_fmt
#define pr_fmt(fmt) fmt
#endif
#define KERN_ERR_LEVEL 3
#define pr_err(fmt, ...) harness_logf(3, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_warn(fmt, ...) harness_logf(4, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_info(fmt, ...) harness_logf(6, pr_fmt(fmt), ##__VA_ARGS__)
#define pr_debug(fmt, ...) do { } while (0)

/* ---- preemption, context (the harness's preempt_count) ---------------------------------- */

/* Lock bookkeeping: how many locks are held, how many misuses were seen. */
extern long dd_zs_locks_held;
extern long dd_zs_lock_errors;
void dd_zs_lock_error(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void dd_preempt_count_add(int n) { harness_this_cpu()->preempt_count += n; }
static inline void dd_preempt_count_sub(const char *file, int line, int n)
{
	struct harness_cpu *c = harness_this_cpu();

	/* CONFIG_DEBUG_PREEMPT: DEBUG_LOCKS_WARN_ON(val > preempt_count()) */
	if ((c->preempt_count & HARNESS_PREEMPT_MASK) < (unsigned int)n) {
		dd_zs_lock_error(file, line, "DEBUG_LOCKS_WARN_ON(val > preempt_count()) on CPU#%d",
				 harness_cpu);
		return;
	}
	c->preempt_count -= n;
}
#define preempt_disable() dd_preempt_count_add(1)
#define preempt_enable() dd_preempt_count_sub(__FILE__, __LINE__, 1)
#define preempt_count() (harness_preempt_count())
#define in_interrupt() \
	(harness_preempt_count() & (HARNESS_NMI_MASK | HARNESS_HARDIRQ_MASK | HARNESS_SOFTIRQ_MASK))
#define in_irq() (harness_preempt_count() & HARNESS_HARDIRQ_MASK)
#define in_softirq() (harness_preempt_count() & HARNESS_SOFTIRQ_MASK)
#define in_task() (!in_interrupt())
#define might_sleep() harness_might_sleep(__FILE__, __LINE__)
#define might_sleep_if(cond) do { if (cond) might_sleep(); } while (0)
/* kernel/sched/core.c: cond_resched() checks __might_resched first */
#define cond_resched() ({ might_sleep(); 0; })
#define cpu_relax() do { } while (0)

/* current->pagefault_disabled, kept per CPU (one task per CPU in the harness) */
extern int dd_zs_pagefault_disabled[HARNESS_NR_CPUS];
static inline void pagefault_disable(void) { dd_zs_pagefault_disabled[harness_cpu]++; }
static inline void dd_pagefault_enable(const char *file, int line)
{
	if (dd_zs_pagefault_disabled[harness_cpu] <= 0) {
		dd_zs_lock_error(file, line, "pagefault_enable() without pagefault_disable() on CPU#%d",
				 harness_cpu);
		return;
	}
	dd_zs_pagefault_disabled[harness_cpu]--;
}
#define pagefault_enable() dd_pagefault_enable(__FILE__, __LINE__)

/* ---- atomics (one thread runs kernel code at a time) ------------------------------------- */

#define atomic_read(v) ((v)->counter)
#define atomic_set(v, i) ((v)->counter = (i))
#define atomic_inc(v) ((v)->counter++)
#define atomic_dec(v) ((v)->counter--)
#define atomic_add(i, v) ((v)->counter += (i))
#define atomic_sub(i, v) ((v)->counter -= (i))
#define atomic_xchg(v, n) ({ __typeof__((v)->counter) __dd_o = (v)->counter; \
			     (v)->counter = (n); __dd_o; })
#define atomic_long_read(v) atomic_read(v)
#define atomic_long_set(v, i) atomic_set(v, i)
#define atomic_long_add(i, v) atomic_add(i, v)
#define atomic_long_sub(i, v) atomic_sub(i, v)
#define atomic_long_inc(v) atomic_inc(v)
#define atomic_long_dec(v) atomic_dec(v)

/* ---- lists (a circular doubly linked list with a head node) ------------------------------- */

#define LIST_HEAD_INIT(name) { &(name), &(name) }
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)

static inline void INIT_LIST_HEAD(struct list_head *h) { h->next = h; h->prev = h; }
static inline bool list_empty(const struct list_head *h) { return h->next == h; }
static inline void dd_list_link(struct list_head *n, struct list_head *before,
				struct list_head *after)
{
	n->prev = before;
	n->next = after;
	before->next = n;
	after->prev = n;
}
static inline void list_add(struct list_head *n, struct list_head *h)
{
	dd_list_link(n, h, h->next);
}
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	dd_list_link(n, h->prev, h);
}
static inline void dd_list_unlink(struct list_head *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}
/* list_del poisons the links as the kernel does (LIST_POISON1/2) */
static inline void list_del(struct list_head *e)
{
	dd_list_unlink(e);
	e->next = (struct list_head *)0x100;
	e->prev = (struct list_head *)0x122;
}
static inline void list_del_init(struct list_head *e)
{
	dd_list_unlink(e);
	INIT_LIST_HEAD(e);
}
static inline void list_splice_init(struct list_head *from, struct list_head *to)
{
	if (list_empty(from))
		return;
	from->next->prev = to;
	from->prev->next = to->next;
	to->next->prev = from->prev;
	to->next = from->next;
	INIT_LIST_HEAD(from);
}
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(h, type, member) list_entry((h)->next, type, member)
#define list_first_entry_or_null(h, type, member) \
	(list_empty(h) ? NULL : list_first_entry(h, type, member))
#define list_next_entry(pos, member) list_entry((pos)->member.next, __typeof__(*(pos)), member)
#define list_for_each(pos, h) for (pos = (h)->next; pos != (h); pos = pos->next)
#define list_for_each_entry(pos, h, member) \
	for (pos = list_first_entry(h, __typeof__(*pos), member); &pos->member != (h); \
	     pos = list_next_entry(pos, member))
#define list_for_each_entry_safe(pos, n, h, member) \
	for (pos = list_first_entry(h, __typeof__(*pos), member), \
	     n = list_next_entry(pos, member); &pos->member != (h); \
	     pos = n, n = list_next_entry(n, member))

/* ---- locks: checked counters --------------------------------------------------------------- */
/*
 * spinlock_t/rwlock_t hold their owner CPU; taking one disables preemption (preempt_count of the
 * harness CPU), as on a non-RT kernel.  Nothing else can run while a step's kernel code runs,
 * so a lock that is already held (by this CPU or by a mapping left open on another CPU) can
 * never be released: that is a deadlock, reported as the kernel's lockup splat and a fatal
 * hang.  Unlocking a lock that is not held, or from another CPU, is a lock error (a splat);
 * dd_zs_locks_held counts held locks, so an entry can flag a lock it left held.
 */
typedef struct {
	int locked;
	int owner_cpu;
} spinlock_t;
typedef struct {
	int readers;
	int writer;
	int owner_cpu;
} rwlock_t;
typedef struct {
	int held;
	int owner_cpu;
} local_lock_t;

#define __SPIN_LOCK_UNLOCKED(x) { 0, -1 }
#define DEFINE_SPINLOCK(x) spinlock_t x = __SPIN_LOCK_UNLOCKED(x)
#define INIT_LOCAL_LOCK(x) { 0, -1 }
#define SINGLE_DEPTH_NESTING 1

void dd_spin_lock(spinlock_t *l, const char *file, int line);
int dd_spin_trylock(spinlock_t *l, const char *file, int line);
void dd_spin_unlock(spinlock_t *l, const char *file, int line);
void dd_read_lock(rwlock_t *l, const char *file, int line);
void dd_read_unlock(rwlock_t *l, const char *file, int line);
void dd_write_lock(rwlock_t *l, const char *file, int line);
void dd_write_unlock(rwlock_t *l, const char *file, int line);
void dd_local_lock(local_lock_t *l, const char *file, int line);
void dd_local_unlock(local_lock_t *l, const char *file, int line);

#define spin_lock_init(l) (*(l) = (spinlock_t)__SPIN_LOCK_UNLOCKED(l))
#define spin_lock(l) dd_spin_lock(l, __FILE__, __LINE__)
#define spin_trylock(l) dd_spin_trylock(l, __FILE__, __LINE__)
#define spin_unlock(l) dd_spin_unlock(l, __FILE__, __LINE__)
#define spin_is_locked(l) ((l)->locked)
#define spin_is_contended(l) (0)
#define assert_spin_locked(l) BUG_ON(!spin_is_locked(l))
#define rwlock_init(l) (*(l) = (rwlock_t){ 0, 0, -1 })
#define read_lock(l) dd_read_lock(l, __FILE__, __LINE__)
#define read_unlock(l) dd_read_unlock(l, __FILE__, __LINE__)
#define write_lock(l) dd_write_lock(l, __FILE__, __LINE__)
#define write_lock_nested(l, subclass) dd_write_lock(l, __FILE__, __LINE__)
#define write_unlock(l) dd_write_unlock(l, __FILE__, __LINE__)
#define rwlock_is_contended(l) (0)

/* ---- per-CPU data ---------------------------------------------------------------------------- */

extern unsigned long dd_zs_percpu_offset[HARNESS_NR_CPUS];
#define DEFINE_PER_CPU(type, name) \
	__attribute__((section("dd_zs_percpu"), aligned(64))) __typeof__(type) name
#define per_cpu_ptr(ptr, cpu) \
	((__typeof__(ptr))((char *)(ptr) + dd_zs_percpu_offset[(cpu)]))
#define this_cpu_ptr(ptr) per_cpu_ptr(ptr, harness_cpu)
#define per_cpu(var, cpu) (*per_cpu_ptr(&(var), cpu))
#define get_cpu_var(var) (*({ preempt_disable(); this_cpu_ptr(&(var)); }))
#define put_cpu_var(var) preempt_enable()
#define smp_processor_id() (harness_cpu)
#define num_possible_cpus() HARNESS_NR_CPUS

/* include/linux/local_lock.h (!PREEMPT_RT): preemption off, and the lock's owner checked */
#define local_lock(lock) do { preempt_disable(); \
		dd_local_lock(this_cpu_ptr(lock), __FILE__, __LINE__); } while (0)
#define local_unlock(lock) do { dd_local_unlock(this_cpu_ptr(lock), __FILE__, __LINE__); \
		preempt_enable(); } while (0)

/* ---- CPU hotplug ---------------------------------------------------------------------------- */

enum cpuhp_state { CPUHP_INVALID = -1, CPUHP_MM_ZS_PREPARE = 40 };
int cpuhp_setup_state(enum cpuhp_state state, const char *name, int (*startup)(unsigned int),
		      int (*teardown)(unsigned int));
void cpuhp_remove_state(enum cpuhp_state state);

/* ---- gfp (bit values of 6.1's include/linux/gfp_types.h; model/context.py uses the same) ---- */

#define __GFP_DMA 0x01u
#define __GFP_HIGHMEM 0x02u
#define __GFP_DMA32 0x04u
#define __GFP_MOVABLE 0x08u
#define __GFP_RECLAIMABLE 0x10u
#define __GFP_HIGH 0x20u
#define __GFP_IO 0x40u
#define __GFP_FS 0x80u
#define __GFP_ZERO 0x100u
#define __GFP_ATOMIC 0x200u
#define __GFP_DIRECT_RECLAIM 0x400u
#define __GFP_KSWAPD_RECLAIM 0x800u
#define __GFP_NOWARN 0x2000u
#define __GFP_RETRY_MAYFAIL 0x4000u
#define __GFP_NOFAIL 0x8000u
#define __GFP_NORETRY 0x10000u
#define __GFP_COMP 0x40000u
#define __GFP_RECLAIM (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)
#define GFP_ATOMIC (__GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM)
#define GFP_NOWAIT (__GFP_KSWAPD_RECLAIM)
#define GFP_NOIO (__GFP_RECLAIM)
#define GFP_NOFS (__GFP_RECLAIM | __GFP_IO)
#define GFP_KERNEL (__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_USER (GFP_KERNEL | __GFP_HARDWALL)
#define __GFP_HARDWALL 0x100000u
#define GFP_HIGHUSER (GFP_USER | __GFP_HIGHMEM)
#define GFP_HIGHUSER_MOVABLE (GFP_HIGHUSER | __GFP_MOVABLE)
static inline bool gfpflags_allow_blocking(gfp_t gfp) { return !!(gfp & __GFP_DIRECT_RECLAIM); }
void dd_might_alloc(gfp_t gfp, const char *file, int line);
#define might_alloc(gfp) dd_might_alloc(gfp, __FILE__, __LINE__)

/* ---- slab ------------------------------------------------------------------------------------ */

struct kmem_cache {
	char name[64];
	size_t size;
	long live;
};

void *dd_kmalloc(size_t size, gfp_t gfp, int zero, const char *file, int line);
#define kmalloc(size, gfp) dd_kmalloc(size, gfp, 0, __FILE__, __LINE__)
#define kzalloc(size, gfp) dd_kmalloc(size, gfp, 1, __FILE__, __LINE__)
#define kcalloc(n, size, gfp) dd_kmalloc((n) * (size), gfp, 1, __FILE__, __LINE__)
static inline void kfree(const void *p) { harness_kfree(p); }
char *kstrdup(const char *s, gfp_t gfp);
char *kasprintf(gfp_t gfp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct kmem_cache *kmem_cache_create(const char *name, unsigned int size, unsigned int align,
				     unsigned long flags, void (*ctor)(void *));
void kmem_cache_destroy(struct kmem_cache *c);
void *dd_kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp, int zero, const char *file, int line);
#define kmem_cache_alloc(c, gfp) dd_kmem_cache_alloc(c, gfp, 0, __FILE__, __LINE__)
#define kmem_cache_zalloc(c, gfp) dd_kmem_cache_alloc(c, gfp, 1, __FILE__, __LINE__)
void kmem_cache_free(struct kmem_cache *c, void *p);

/* ---- pages ----------------------------------------------------------------------------------- */

#define PAGE_MAPPING_ANON 0x1UL
#define PAGE_MAPPING_MOVABLE 0x2UL
#define PAGE_MAPPING_FLAGS (PAGE_MAPPING_ANON | PAGE_MAPPING_MOVABLE)

struct address_space;
struct zone { int id; };

struct page {
	unsigned long flags;
	struct address_space *mapping;
	unsigned long index;
	unsigned long private;
	union {
		atomic_t _mapcount;	/* 6.1: page_type overlays it */
		unsigned int page_type;
	};
	atomic_t _refcount;
};

enum dd_page_flag { PG_locked = 0, PG_private = 1, PG_isolated = 2, PG_reserved = 3 };

/* The page array and its memory (shim.c). */
extern struct page *dd_zs_pages;
extern char *dd_zs_mem;
extern long dd_zs_nr_pages;
extern struct zone dd_zs_zone;
#define DD_ZS_PFN_BASE 0x10000UL

struct page *dd_zs_pfn_to_page(unsigned long pfn, const char *file, int line);
#define pfn_to_page(pfn) dd_zs_pfn_to_page(pfn, __FILE__, __LINE__)
#define page_to_pfn(page) ((unsigned long)((page) - dd_zs_pages) + DD_ZS_PFN_BASE)
#define page_address(page) ((void *)(dd_zs_mem + ((page) - dd_zs_pages) * PAGE_SIZE))
#define page_zone(page) (&dd_zs_zone)
#define page_private(page) ((page)->private)
#define set_page_private(page, v) ((page)->private = (unsigned long)(v))

#define DD_PAGE_FLAG_FNS(name, bit) \
	static inline bool Page##name(const struct page *p) { return (p->flags >> (bit)) & 1; } \
	static inline void SetPage##name(struct page *p) { p->flags |= 1UL << (bit); } \
	static inline void ClearPage##name(struct page *p) { p->flags &= ~(1UL << (bit)); } \
	static inline void __SetPage##name(struct page *p) { p->flags |= 1UL << (bit); } \
	static inline void __ClearPage##name(struct page *p) { p->flags &= ~(1UL << (bit)); }
DD_PAGE_FLAG_FNS(Locked, PG_locked)
DD_PAGE_FLAG_FNS(Private, PG_private)
DD_PAGE_FLAG_FNS(Isolated, PG_isolated)

/* 6.1: _mapcount back to -1 (its page_type overlay is reused by zsmalloc) */
static inline void page_mapcount_reset(struct page *page) { atomic_set(&page->_mapcount, -1); }

/* 6.12 page types: the top byte of page_type, UINT_MAX when a page has no type */
#define DD_PGTY_ZSMALLOC 0xf6u
static inline bool PageZsmalloc(const struct page *page)
{
	return (page->page_type >> 24) == DD_PGTY_ZSMALLOC;
}
static inline void __SetPageZsmalloc(struct page *page)
{
	VM_BUG_ON_PAGE(page->page_type != UINT_MAX, page);
	page->page_type = DD_PGTY_ZSMALLOC << 24;
}
static inline void __ClearPageZsmalloc(struct page *page)
{
	VM_BUG_ON_PAGE(!PageZsmalloc(page), page);
	page->page_type = UINT_MAX;
}

struct page *dd_alloc_page(gfp_t gfp, const char *file, int line);
#define alloc_page(gfp) dd_alloc_page(gfp, __FILE__, __LINE__)
void dd_get_page(struct page *page, const char *file, int line);
void dd_put_page(struct page *page, const char *file, int line);
#define get_page(p) dd_get_page(p, __FILE__, __LINE__)
#define put_page(p) dd_put_page(p, __FILE__, __LINE__)
#define __free_page(p) dd_put_page(p, __FILE__, __LINE__)
static inline int page_count(const struct page *p) { return atomic_read(&p->_refcount); }

static inline bool trylock_page(struct page *page)
{
	if (PageLocked(page))
		return false;
	__SetPageLocked(page);
	return true;
}
void dd_unlock_page(struct page *page, const char *file, int line);
void dd_wait_on_page_locked(struct page *page, const char *file, int line);
#define unlock_page(p) dd_unlock_page(p, __FILE__, __LINE__)
#define wait_on_page_locked(p) dd_wait_on_page_locked(p, __FILE__, __LINE__)
#define lock_page(p) do { might_sleep(); wait_on_page_locked(p); __SetPageLocked(p); } while (0)

enum zone_stat_item { NR_ZSPAGES = 0, NR_DD_ZONE_STATS };
extern long dd_zs_zone_stat[NR_DD_ZONE_STATS];
#define inc_zone_page_state(page, item) ((void)(page), dd_zs_zone_stat[item]++)
#define dec_zone_page_state(page, item) ((void)(page), dd_zs_zone_stat[item]--)

static inline void copy_page(void *to, void *from) { memcpy(to, from, PAGE_SIZE); }
#define kmsan_copy_page_meta(dst, src) do { } while (0)

/* highmem on x86_64: page_address, with preemption and page faults off for the atomic forms */
extern int dd_zs_kmap_depth[HARNESS_NR_CPUS];
static inline void *kmap_atomic(struct page *page)
{
	preempt_disable();
	pagefault_disable();
	dd_zs_kmap_depth[harness_cpu]++;
	return page_address(page);
}
void dd_kunmap_atomic(const void *addr, const char *file, int line);
#define kunmap_atomic(addr) dd_kunmap_atomic(addr, __FILE__, __LINE__)
static inline void *kmap_local_page(struct page *page) { return kmap_atomic(page); }
#define kunmap_local(addr) dd_kunmap_atomic(addr, __FILE__, __LINE__)
static inline void *kmap(struct page *page) { might_sleep(); return page_address(page); }
#define kunmap(page) do { (void)(page); } while (0)

/* ---- movable pages, migration ---------------------------------------------------------- */

typedef unsigned int isolate_mode_t;
enum migrate_mode { MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC, MIGRATE_SYNC_NO_COPY };
#define MIGRATEPAGE_SUCCESS 0

struct movable_operations {
	bool (*isolate_page)(struct page *page, isolate_mode_t mode);
	int (*migrate_page)(struct page *dst, struct page *src, enum migrate_mode mode);
	void (*putback_page)(struct page *page);
};

static inline bool __PageMovable(const struct page *page)
{
	return ((unsigned long)page->mapping & PAGE_MAPPING_FLAGS) == PAGE_MAPPING_MOVABLE;
}
static inline const struct movable_operations *page_movable_ops(const struct page *page)
{
	return (const struct movable_operations *)
		((unsigned long)page->mapping - PAGE_MAPPING_MOVABLE);
}
static inline void __SetPageMovable(struct page *page, const struct movable_operations *mops)
{
	VM_BUG_ON_PAGE(!PageLocked(page), page);
	VM_BUG_ON_PAGE((unsigned long)mops & PAGE_MAPPING_MOVABLE, page);
	page->mapping = (struct address_space *)((unsigned long)mops | PAGE_MAPPING_MOVABLE);
}
static inline void __ClearPageMovable(struct page *page)
{
	VM_BUG_ON_PAGE(!__PageMovable(page), page);
	/* keeps the MOVABLE bit: the page still looks like a (dead) movable page */
	page->mapping = (struct address_space *)PAGE_MAPPING_MOVABLE;
}
static inline bool PageMovable(struct page *page)
{
	VM_BUG_ON_PAGE(!PageLocked(page), page);
	if (!__PageMovable(page))
		return false;
	return page_movable_ops(page) != NULL;
}

/* ---- work, shrinkers, wait ---------------------------------------------------------------- */

struct work_struct {
	void (*func)(struct work_struct *work);
	int pending;
};
#define INIT_WORK(w, f) do { (w)->func = (f); (w)->pending = 0; } while (0)
bool schedule_work(struct work_struct *work);
bool flush_work(struct work_struct *work);
/* Run the work that was scheduled (the harness's workqueue, after an entry's kernel code). */
void dd_zs_run_work(void);

#define DEFAULT_SEEKS 2
#define SHRINK_STOP (~0UL)
#define SHRINK_EMPTY (~0UL - 1)
struct shrink_control {
	gfp_t gfp_mask;
	int nid;
	unsigned long nr_to_scan;
	unsigned long nr_scanned;
};
struct shrinker {
	unsigned long (*count_objects)(struct shrinker *, struct shrink_control *sc);
	unsigned long (*scan_objects)(struct shrinker *, struct shrink_control *sc);
	long batch;
	int seeks;
	unsigned int flags;
	void *private_data;
	int registered;
	int allocated;
};
/* 6.1 */
int register_shrinker(struct shrinker *shrinker, const char *fmt, ...);
void unregister_shrinker(struct shrinker *shrinker);
/* 6.7+ */
struct shrinker *shrinker_alloc(unsigned int flags, const char *fmt, ...);
void shrinker_register(struct shrinker *shrinker);
void shrinker_free(struct shrinker *shrinker);
/* the shrinker zsmalloc registered last (to drive it from the harness) */
extern struct shrinker *dd_zs_shrinker;

struct wait_queue_head { int dummy; };
typedef struct wait_queue_head wait_queue_head_t;

/* ---- debugfs (CONFIG_ZSMALLOC_STAT off: declarations only) -------------------------------- */

struct dentry;
struct seq_file;
static inline bool debugfs_initialized(void) { return false; }

#endif /* DD_ZS_SHIM_H */
