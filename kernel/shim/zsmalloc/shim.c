// SPDX-License-Identifier: GPL-2.0
/*
 * dyndiet: the C half of the zsmalloc shims (dd_zs_shim.h): checked locks, the page array and
 * its allocator (fault injection, poison on free, bad-page checks), slab caches over the
 * harness's kmalloc, per-CPU areas, the workqueue, shrinker registration, CPU hotplug.
 * Written for dyndiet; no kernel code is copied here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "dd_zs_shim.h"

long dd_zs_locks_held;
long dd_zs_lock_errors;
int dd_zs_pagefault_disabled[HARNESS_NR_CPUS];
int dd_zs_kmap_depth[HARNESS_NR_CPUS];
long dd_zs_zone_stat[NR_DD_ZONE_STATS];
struct zone dd_zs_zone;

void dd_zs_lock_error(const char *file, int line, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dd_zs_lock_errors++;
	harness_splat(file, line, "%s", buf);
}

/* A lock that can never be released while this step runs: the kernel would spin forever. */
__attribute__((noreturn)) static void lockup(const char *file, int line, const char *what,
					     int owner)
{
	if (owner == harness_cpu)
		harness_fatal(HARNESS_EV_HANG, file, line, 0,
			      "BUG: %s recursion on CPU#%d (deadlock)", what, harness_cpu);
	harness_fatal(HARNESS_EV_HANG, file, line, 0,
		      "BUG: %s lockup suspected on CPU#%d, held by CPU#%d", what, harness_cpu,
		      owner);
}

/* --- spinlock_t ------------------------------------------------------------------------- */

void dd_spin_lock(spinlock_t *l, const char *file, int line)
{
	preempt_disable();
	if (l->locked)
		lockup(file, line, "spinlock", l->owner_cpu);
	l->locked = 1;
	l->owner_cpu = harness_cpu;
	dd_zs_locks_held++;
}

int dd_spin_trylock(spinlock_t *l, const char *file, int line)
{
	(void)file;
	(void)line;
	preempt_disable();
	if (l->locked) {
		preempt_enable();
		return 0;
	}
	l->locked = 1;
	l->owner_cpu = harness_cpu;
	dd_zs_locks_held++;
	return 1;
}

void dd_spin_unlock(spinlock_t *l, const char *file, int line)
{
	if (!l->locked) {
		dd_zs_lock_error(file, line, "BUG: spinlock already unlocked on CPU#%d",
				 harness_cpu);
		return;
	}
	if (l->owner_cpu != harness_cpu)
		dd_zs_lock_error(file, line, "BUG: spinlock wrong CPU on CPU#%d (owner CPU#%d)",
				 harness_cpu, l->owner_cpu);
	l->locked = 0;
	l->owner_cpu = -1;
	dd_zs_locks_held--;
	dd_preempt_count_sub(file, line, 1);
}

/* --- rwlock_t ------------------------------------------------------------------------------ */

void dd_read_lock(rwlock_t *l, const char *file, int line)
{
	preempt_disable();
	if (l->writer)
		lockup(file, line, "rwlock", l->owner_cpu);
	l->readers++;
	dd_zs_locks_held++;
}

void dd_read_unlock(rwlock_t *l, const char *file, int line)
{
	if (l->readers <= 0) {
		dd_zs_lock_error(file, line, "BUG: rwlock read_unlock of an unlocked lock on CPU#%d",
				 harness_cpu);
		return;
	}
	l->readers--;
	dd_zs_locks_held--;
	dd_preempt_count_sub(file, line, 1);
}

void dd_write_lock(rwlock_t *l, const char *file, int line)
{
	preempt_disable();
	if (l->writer)
		lockup(file, line, "rwlock", l->owner_cpu);
	if (l->readers)
		harness_fatal(HARNESS_EV_HANG, file, line, 0,
			      "BUG: rwlock lockup suspected on CPU#%d, write_lock with %d reader(s) "
			      "(a mapping still open)", harness_cpu, l->readers);
	l->writer = 1;
	l->owner_cpu = harness_cpu;
	dd_zs_locks_held++;
}

void dd_write_unlock(rwlock_t *l, const char *file, int line)
{
	if (!l->writer) {
		dd_zs_lock_error(file, line, "BUG: rwlock write_unlock of an unlocked lock on CPU#%d",
				 harness_cpu);
		return;
	}
	if (l->owner_cpu != harness_cpu)
		dd_zs_lock_error(file, line, "BUG: rwlock wrong CPU on CPU#%d (owner CPU#%d)",
				 harness_cpu, l->owner_cpu);
	l->writer = 0;
	l->owner_cpu = -1;
	dd_zs_locks_held--;
	dd_preempt_count_sub(file, line, 1);
}

/* --- local_lock_t (lockdep's view: one owner; preemption is handled by the macros) ------- */

void dd_local_lock(local_lock_t *l, const char *file, int line)
{
	if (l->held)
		dd_zs_lock_error(file, line,
				 "WARNING: possible recursive locking detected: local_lock on CPU#%d "
				 "already held (DEBUG_LOCKS_WARN_ON(l->owner))", harness_cpu);
	l->held++;
	l->owner_cpu = harness_cpu;
	dd_zs_locks_held++;
}

void dd_local_unlock(local_lock_t *l, const char *file, int line)
{
	if (l->held <= 0) {
		dd_zs_lock_error(file, line, "local_unlock on CPU#%d of a local_lock it does not hold",
				 harness_cpu);
		return;
	}
	l->held--;
	dd_zs_locks_held--;
}

/* --- per-CPU areas -------------------------------------------------------------------------- */

extern char __start_dd_zs_percpu[];
extern char __stop_dd_zs_percpu[];
unsigned long dd_zs_percpu_offset[HARNESS_NR_CPUS];
/* each CPU's copy (kept here so the compiler sees it escape: the offsets are integers) */
static char *percpu_copy[HARNESS_NR_CPUS];

/* At load (before any kernel code runs): every CPU but 0 gets a copy of the initial area. */
__attribute__((constructor)) static void dd_zs_percpu_setup(void)
{
	size_t n = (size_t)(__stop_dd_zs_percpu - __start_dd_zs_percpu);
	int cpu;

	for (cpu = 1; cpu < HARNESS_NR_CPUS; cpu++) {
		char *copy = aligned_alloc(64, (n + 63) & ~(size_t)63);

		if (!copy)
			abort();
		memcpy(copy, __start_dd_zs_percpu, n);
		percpu_copy[cpu] = copy;
		dd_zs_percpu_offset[cpu] = (unsigned long)copy -
					   (unsigned long)__start_dd_zs_percpu;
	}
}

/* --- slab ------------------------------------------------------------------------------------ */

/*
 * include/linux/sched/mm.h might_alloc(), which the slab and page allocators call first: its
 * might_sleep_if() reports the header's line (DD_MIGHT_ALLOC_LINE, found in the tree by
 * kernel/zsmalloc.py), as the kernel's splat does; the caller's site follows as a log line,
 * where the kernel prints a stack trace.
 */
void dd_might_alloc(gfp_t gfp, const char *file, int line)
{
	struct harness_cpu *c = harness_this_cpu();
	int splat = c->preempt_count != 0 || c->irqs_disabled;

	if (!gfpflags_allow_blocking(gfp))
		return;
#ifdef DD_MIGHT_ALLOC_LINE
	harness_might_sleep("include/linux/sched/mm.h", DD_MIGHT_ALLOC_LINE);
	if (splat)
		harness_logf(4, "might_alloc() called from %s:%d", file, line);
#else
	(void)splat;
	harness_might_sleep(file, line);
#endif
}

void *dd_kmalloc(size_t size, gfp_t gfp, int zero, const char *file, int line)
{
	dd_might_alloc(gfp, file, line);
	return harness_kmalloc(size, zero || (gfp & __GFP_ZERO));
}

/* weak: the dynamic-debug shims' copy wins where both are linked into one object */
__attribute__((weak)) char *kstrdup(const char *s, gfp_t gfp)
{
	size_t n;
	char *p;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	p = dd_kmalloc(n, gfp, 0, __FILE__, __LINE__);
	if (p)
		memcpy(p, s, n);
	return p;
}

__attribute__((weak)) char *kasprintf(gfp_t gfp, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	p = dd_kmalloc((size_t)n + 1, gfp, 0, __FILE__, __LINE__);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size, unsigned int align,
				     unsigned long flags, void (*ctor)(void *))
{
	struct kmem_cache *c;

	(void)align;
	(void)flags;
	(void)ctor;
	might_sleep();		/* mutex_lock(&slab_mutex) */
	c = harness_kmalloc(sizeof(*c), 1);
	if (!c)
		return NULL;
	snprintf(c->name, sizeof(c->name), "%s", name);	/* the kernel keeps its own copy */
	c->size = size;
	return c;
}

void kmem_cache_destroy(struct kmem_cache *c)
{
	if (!c)
		return;
	might_sleep();
	if (c->live)
		harness_splat(__FILE__, __LINE__,
			      "kmem_cache_destroy %s: Slab cache still has objects (%ld)", c->name,
			      c->live);
	harness_kfree(c);
}

void *dd_kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp, int zero, const char *file, int line)
{
	void *p;

	dd_might_alloc(gfp, file, line);
	p = harness_kmalloc(c->size, zero || (gfp & __GFP_ZERO));
	if (p)
		c->live++;
	return p;
}

void kmem_cache_free(struct kmem_cache *c, void *p)
{
	if (!p)
		return;
	c->live--;
	harness_kfree(p);
}

/* --- pages ------------------------------------------------------------------------------------- */

struct page *dd_zs_pages;
char *dd_zs_mem;
long dd_zs_nr_pages = 8192;
long dd_zs_pages_in_use;
long dd_zs_bad_pages;
int dd_zs_fail_pages;
/* free page indices, a stack (the most recently freed page is reused first, as per-CPU page
 * lists do); touched[i]: the page was poisoned once (fresh mmap memory is zero) */
static long *free_stack;
static long nr_free;
static unsigned char *touched;

#define DD_PAGE_POISON 0xaa	/* include/linux/poison.h PAGE_POISON */

int dd_zs_pages_setup(long nr)
{
	long i;
	size_t bytes;

	if (dd_zs_pages)
		return 0;
	if (nr > 0)
		dd_zs_nr_pages = nr;
	bytes = (size_t)dd_zs_nr_pages * PAGE_SIZE;
	dd_zs_mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dd_zs_mem == MAP_FAILED) {
		dd_zs_mem = NULL;
		return -ENOMEM;
	}
	dd_zs_pages = calloc((size_t)dd_zs_nr_pages, sizeof(struct page));
	free_stack = calloc((size_t)dd_zs_nr_pages, sizeof(long));
	touched = calloc((size_t)dd_zs_nr_pages, 1);
	if (!dd_zs_pages || !free_stack || !touched)
		return -ENOMEM;
	for (i = 0; i < dd_zs_nr_pages; i++) {
		dd_zs_pages[i].page_type = UINT_MAX;
		free_stack[i] = dd_zs_nr_pages - 1 - i;	/* page 0 on top */
	}
	nr_free = dd_zs_nr_pages;
	return 0;
}

struct page *dd_zs_pfn_to_page(unsigned long pfn, const char *file, int line)
{
	if (pfn < DD_ZS_PFN_BASE || pfn - DD_ZS_PFN_BASE >= (unsigned long)dd_zs_nr_pages)
		harness_fatal(HARNESS_EV_OOPS, file, line, pfn,
			      "BUG: unable to handle page fault: pfn_to_page(%#lx) is no page of "
			      "this machine", pfn);
	return &dd_zs_pages[pfn - DD_ZS_PFN_BASE];
}

void dd_zs_dump_page(struct page *page, const char *why)
{
	if (!page || page < dd_zs_pages || page >= dd_zs_pages + dd_zs_nr_pages) {
		harness_logf(0, "page:%p (not a page of this machine) %s", (void *)page, why);
		return;
	}
	harness_logf(0, "page:%p refcount:%d mapcount:%d mapping:%p index:%#lx pfn:%#lx "
		     "flags:%#lx private:%#lx", (void *)page, page->_refcount.counter,
		     page->_mapcount.counter, (void *)page->mapping, page->index,
		     page_to_pfn(page), page->flags, page->private);
	harness_logf(0, "page dumped because: %s", why);
}

struct page *dd_alloc_page(gfp_t gfp, const char *file, int line)
{
	struct page *page;
	long idx;

	dd_might_alloc(gfp, file, line);
	if (!dd_zs_pages || dd_zs_fail_pages > 0) {
		if (dd_zs_fail_pages > 0)
			dd_zs_fail_pages--;
		return NULL;
	}
	if (nr_free == 0)
		return NULL;
	idx = free_stack[--nr_free];
	page = &dd_zs_pages[idx];
	if (!touched[idx]) {
		memset(page_address(page), DD_PAGE_POISON, PAGE_SIZE);
		touched[idx] = 1;
	}
	if (gfp & __GFP_ZERO)
		memset(page_address(page), 0, PAGE_SIZE);
	page->flags = 0;
	page->mapping = NULL;
	page->index = 0;
	page->private = 0;
	page->page_type = UINT_MAX;
	atomic_set(&page->_refcount, 1);
	dd_zs_pages_in_use++;
	return page;
}

/* mm/page_alloc.c free_pages_prepare / bad_page: a page freed in a bad state is a splat */
static void free_one(struct page *page, const char *file, int line)
{
	long idx = page - dd_zs_pages;

	if ((unsigned long)page->mapping & PAGE_MAPPING_FLAGS &&
	    !((unsigned long)page->mapping & ~PAGE_MAPPING_FLAGS))
		page->mapping = NULL;
	if (page->flags || page->mapping || page->page_type != UINT_MAX || page->private) {
		dd_zs_bad_pages++;
		harness_splat(file, line, "BUG: Bad page state in process pfn:%05lx flags:%#lx "
			      "mapping:%p page_type:%#x private:%#lx", page_to_pfn(page),
			      page->flags, (void *)page->mapping, page->page_type, page->private);
		page->flags = 0;
		page->mapping = NULL;
		page->page_type = UINT_MAX;
		page->private = 0;
	}
	memset(page_address(page), DD_PAGE_POISON, PAGE_SIZE);
	free_stack[nr_free++] = idx;
	dd_zs_pages_in_use--;
}

void dd_get_page(struct page *page, const char *file, int line)
{
	if (atomic_read(&page->_refcount) <= 0) {
		dd_zs_dump_page(page, "VM_BUG_ON_PAGE(page_ref_zero_or_close_to_overflow(page))");
		harness_bug(file, line);
	}
	atomic_inc(&page->_refcount);
}

void dd_put_page(struct page *page, const char *file, int line)
{
	if (atomic_read(&page->_refcount) <= 0) {
		dd_zs_dump_page(page, "VM_BUG_ON_PAGE(page_ref_count(page) == 0)");
		harness_bug(file, line);
	}
	atomic_dec(&page->_refcount);
	if (atomic_read(&page->_refcount) == 0)
		free_one(page, file, line);
}

void dd_unlock_page(struct page *page, const char *file, int line)
{
	if (!PageLocked(page)) {
		dd_zs_dump_page(page, "VM_BUG_ON_FOLIO(!folio_test_locked(folio))");
		harness_bug(file, line);
	}
	__ClearPageLocked(page);
}

void dd_wait_on_page_locked(struct page *page, const char *file, int line)
{
	might_sleep();
	if (PageLocked(page))
		harness_fatal(HARNESS_EV_HANG, file, line, 0,
			      "INFO: task blocked waiting on locked page pfn:%05lx that nothing "
			      "will unlock", page_to_pfn(page));
}

void dd_kunmap_atomic(const void *addr, const char *file, int line)
{
	(void)addr;
	if (dd_zs_kmap_depth[harness_cpu] <= 0) {
		dd_zs_lock_error(file, line, "kunmap_atomic on CPU#%d without kmap_atomic",
				 harness_cpu);
		return;
	}
	dd_zs_kmap_depth[harness_cpu]--;
	dd_pagefault_enable(file, line);
	dd_preempt_count_sub(file, line, 1);
}

/* --- workqueue ------------------------------------------------------------------------------- */

#define DD_MAX_WORK 16
static struct work_struct *work_queue[DD_MAX_WORK];
static int nr_work;

bool schedule_work(struct work_struct *work)
{
	if (work->pending)
		return false;
	if (nr_work == DD_MAX_WORK)
		harness_fatal(HARNESS_EV_BUG, __FILE__, __LINE__, 0, "workqueue full");
	work->pending = 1;
	work_queue[nr_work++] = work;
	return true;
}

static void run_one(int i)
{
	struct work_struct *w = work_queue[i];

	memmove(&work_queue[i], &work_queue[i + 1], sizeof(work_queue[0]) * (nr_work - i - 1));
	nr_work--;
	w->pending = 0;
	w->func(w);
}

bool flush_work(struct work_struct *work)
{
	int i;

	might_sleep();
	for (i = 0; i < nr_work; i++) {
		if (work_queue[i] == work) {
			run_one(i);
			return true;
		}
	}
	return false;
}

void dd_zs_run_work(void)
{
	while (nr_work)
		run_one(0);
}

/* --- shrinkers ----------------------------------------------------------------------------- */

struct shrinker *dd_zs_shrinker;

int register_shrinker(struct shrinker *shrinker, const char *fmt, ...)
{
	(void)fmt;
	shrinker->registered = 1;
	dd_zs_shrinker = shrinker;
	return 0;
}

void unregister_shrinker(struct shrinker *shrinker)
{
	shrinker->registered = 0;
	if (dd_zs_shrinker == shrinker)
		dd_zs_shrinker = NULL;
}

struct shrinker *shrinker_alloc(unsigned int flags, const char *fmt, ...)
{
	struct shrinker *s = dd_kmalloc(sizeof(*s), GFP_KERNEL, 1, __FILE__, __LINE__);

	(void)fmt;
	if (s) {
		s->flags = flags;
		s->allocated = 1;
	}
	return s;
}

void shrinker_register(struct shrinker *shrinker)
{
	shrinker->registered = 1;
	dd_zs_shrinker = shrinker;
}

void shrinker_free(struct shrinker *shrinker)
{
	if (!shrinker)
		return;
	if (dd_zs_shrinker == shrinker)
		dd_zs_shrinker = NULL;
	kfree(shrinker);
}

/* --- CPU hotplug: every CPU of the harness is up --------------------------------------------- */

static int (*cpuhp_teardown)(unsigned int cpu);

int cpuhp_setup_state(enum cpuhp_state state, const char *name, int (*startup)(unsigned int),
		      int (*teardown)(unsigned int))
{
	unsigned int cpu;
	int ret;

	(void)state;
	(void)name;
	cpuhp_teardown = teardown;
	for (cpu = 0; cpu < HARNESS_NR_CPUS; cpu++) {
		ret = startup ? startup(cpu) : 0;
		if (ret)
			return ret;
	}
	return 0;
}

void cpuhp_remove_state(enum cpuhp_state state)
{
	unsigned int cpu;

	(void)state;
	for (cpu = 0; cpu < HARNESS_NR_CPUS && cpuhp_teardown; cpu++)
		cpuhp_teardown(cpu);
}
