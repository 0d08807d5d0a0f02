// SPDX-License-Identifier: GPL-2.0
/*
 * dyndiet: the real mm/zsmalloc.c (6.1 or 6.12), included whole so its static functions are
 * reachable, and the h_* entries Python calls (kernel/zsmalloc.py).  Every entry goes through
 * HARNESS_ENTER/LEAVE: a BUG, a fault or a lockup inside zsmalloc returns here as a fatal event.
 *
 * Features come from the area's cflags (detected from the source text by kernel/zsmalloc.py):
 *   DD_ZS_FINE_FULLNESS  the ZS_INUSE_RATIO_* fullness groups (6.12) instead of ZS_EMPTY..ZS_FULL
 *   DD_ZS_CLASS_LOCK     per-class spinlocks and pool->migrate_lock (6.12) instead of pool->lock
 */
/* first: mm/zsmalloc.c defines pr_fmt before its includes */
#include "mm/zsmalloc.c"

#include "dd_zs_shim.h"

extern long dd_zs_pages_in_use;
extern long dd_zs_bad_pages;
extern int dd_zs_fail_pages;
int dd_zs_pages_setup(long nr);

static struct zs_pool *pool;
static int zs_initialised;

/* The pointer each CPU's open mapping returned (zs_map_object), newest last. */
#define DD_MAX_MAPS 8
struct dd_map {
	unsigned long handle;
	char *ptr;
	int mode;
};
static struct dd_map maps[HARNESS_NR_CPUS][DD_MAX_MAPS];
static int nr_maps[HARNESS_NR_CPUS];

/* --- the end of every entry: run scheduled work, flag locks an entry left held -------------- */

static long entry_locks;

static void entry_begin(void)
{
	entry_locks = dd_zs_locks_held;
}

static void entry_end(const char *fn, int may_hold)
{
	dd_zs_run_work();
	if (!may_hold && dd_zs_locks_held != entry_locks)
		dd_zs_lock_error(__FILE__, __LINE__,
				 "BUG: %s returned with %ld lock(s) held (%ld before)", fn,
				 dd_zs_locks_held, entry_locks);
}

#define ENTER(err) HARNESS_ENTER(err); entry_begin()
#define LEAVE(fn, may_hold) do { entry_end(fn, may_hold); HARNESS_LEAVE(); } while (0)

/* --- constants and features ------------------------------------------------------------------ */

#ifdef DD_ZS_FINE_FULLNESS
#define DD_NR_STATS NR_CLASS_STAT_TYPES
static const char *const stat_names[] = {
	"ZS_INUSE_RATIO_0", "ZS_INUSE_RATIO_10", "ZS_INUSE_RATIO_20", "ZS_INUSE_RATIO_30",
	"ZS_INUSE_RATIO_40", "ZS_INUSE_RATIO_50", "ZS_INUSE_RATIO_60", "ZS_INUSE_RATIO_70",
	"ZS_INUSE_RATIO_80", "ZS_INUSE_RATIO_90", "ZS_INUSE_RATIO_99", "ZS_INUSE_RATIO_100",
	"ZS_OBJS_ALLOCATED", "ZS_OBJS_INUSE",
};
#define DD_NR_FULLNESS NR_FULLNESS_GROUPS
#define DD_STAT_ALLOCATED ZS_OBJS_ALLOCATED
#define DD_STAT_USED ZS_OBJS_INUSE
#else
#define DD_NR_STATS NR_ZS_STAT_TYPE
static const char *const stat_names[] = {
	"CLASS_EMPTY", "CLASS_ALMOST_EMPTY", "CLASS_ALMOST_FULL", "CLASS_FULL",
	"OBJ_ALLOCATED", "OBJ_USED",
};
#define DD_NR_FULLNESS NR_ZS_FULLNESS
#define DD_STAT_ALLOCATED OBJ_ALLOCATED
#define DD_STAT_USED OBJ_USED
#endif
_Static_assert(sizeof(stat_names) / sizeof(stat_names[0]) == DD_NR_STATS,
	       "a name for every class stat");

int h_zs_nr_stats(void) { return DD_NR_STATS; }
const char *h_zs_stat_name(int i) { return i >= 0 && i < DD_NR_STATS ? stat_names[i] : ""; }
int h_zs_nr_fullness(void) { return DD_NR_FULLNESS; }
int h_zs_size_classes(void) { return ZS_SIZE_CLASSES; }
int h_zs_obj_index_bits(void) { return OBJ_INDEX_BITS; }
int h_zs_min_alloc_size(void) { return ZS_MIN_ALLOC_SIZE; }
int h_zs_max_alloc_size(void) { return ZS_MAX_ALLOC_SIZE; }
int h_zs_max_pages_per_zspage(void) { return ZS_MAX_PAGES_PER_ZSPAGE; }
int h_zs_handle_size(void) { return ZS_HANDLE_SIZE; }
int h_zs_nr_pages(void) { return (int)dd_zs_nr_pages; }
unsigned long h_zs_pfn_base(void) { return DD_ZS_PFN_BASE; }

/* --- the pool -------------------------------------------------------------------------------- */

int h_zs_set_nr_pages(long n)
{
	if (dd_zs_pages)
		return -EBUSY;
	dd_zs_nr_pages = n;
	return 0;
}

/* The page array and zs_init (module_init), once per kernel: 0 or -ENOMEM. */
static int zs_init_once(void)
{
	int ret;

	if (zs_initialised)
		return 0;
	if (dd_zs_pages_setup(0))
		return -ENOMEM;
	ret = zs_init();
	if (!ret)
		zs_initialised = 1;
	return ret;
}

/* zsmalloc's module_init at boot, for code that makes its own pool (a patched dynamic debug). */
int h_zs_init(void)
{
	int ret;

	ENTER(-1000);
	ret = zs_init_once();
	LEAVE("h_zs_init", 0);
	return ret;
}

/* zs_init (module_init) once per kernel, then zs_create_pool.  0, -ENOMEM (NULL), -EEXIST. */
int h_zs_create(const char *name)
{
	int ret = 0;

	ENTER(-1000);
	if (pool) {
		ret = -17;
		goto out;
	}
	ret = zs_init_once();
	if (ret)
		goto out;
	pool = zs_create_pool(name);
	if (!pool)
		ret = -ENOMEM;
out:
	LEAVE("h_zs_create", 0);
	return ret;
}

int h_zs_destroy(void)
{
	ENTER(-1000);
	if (pool)
		zs_destroy_pool(pool);
	pool = NULL;
	LEAVE("h_zs_destroy", 0);
	return 0;
}

long h_zs_pages_in_use(void) { return dd_zs_pages_in_use; }
long h_zs_bad_pages(void) { return dd_zs_bad_pages; }
long h_zs_lock_errors(void) { return dd_zs_lock_errors; }
long h_zs_locks_held(void) { return dd_zs_locks_held; }
long h_zs_zspages_stat(void) { return dd_zs_zone_stat[NR_ZSPAGES]; }
long h_zs_live_allocs(void) { return (long)harness_live_allocs(); }
void h_zs_fail_page_allocs(int n) { dd_zs_fail_pages = n; }

unsigned long h_zs_malloc(unsigned long size, unsigned int gfp)
{
	unsigned long handle;

	ENTER(0);
	handle = zs_malloc(pool, size, gfp);
	LEAVE("h_zs_malloc", 0);
	return handle;
}

int h_zs_free(unsigned long handle)
{
	ENTER(-1000);
	zs_free(pool, handle);
	LEAVE("h_zs_free", 0);
	return 0;
}

/* Bytes a caller may use at the mapped address (class->size - ZS_HANDLE_SIZE; huge: the page). */
static long payload_of(unsigned long handle)
{
	struct page *page;
	unsigned int obj_idx;
	struct zspage *zspage;
	struct size_class *class;

	obj_to_location(handle_to_obj(handle), &page, &obj_idx);
	zspage = get_zspage(page);
	class = zspage_class(pool, zspage);
	return ZsHugePage(zspage) ? class->size : class->size - (long)ZS_HANDLE_SIZE;
}

long h_zs_payload_size(unsigned long handle)
{
	long n;

	ENTER(-1000);
	n = payload_of(handle);
	LEAVE("h_zs_payload_size", 0);
	return n;
}

/*
 * zs_map_object in the context Python set (harness_set_context): the address is kept for
 * h_zs_mapped_copy and h_zs_unmap.  Returns the address, 0 after a fatal event, or
 * -EINVAL (as an unsigned long) when this harness has no room for another open mapping.
 * *spans: 1 when the address is the CPU's copy buffer (the object spans two pages).
 */
unsigned long h_zs_map(unsigned long handle, int mode, int *spans)
{
	char *p;
	int cpu = harness_cpu;

	ENTER(0);
	if (nr_maps[cpu] == DD_MAX_MAPS) {
		LEAVE("h_zs_map", 1);
		return (unsigned long)-EINVAL;
	}
	p = zs_map_object(pool, handle, (enum zs_mapmode)mode);
	*spans = this_cpu_ptr(&zs_map_area)->vm_buf != NULL &&
		 p >= this_cpu_ptr(&zs_map_area)->vm_buf &&
		 p < this_cpu_ptr(&zs_map_area)->vm_buf + ZS_MAX_ALLOC_SIZE;
	maps[cpu][nr_maps[cpu]++] = (struct dd_map){ handle, p, mode };
	LEAVE("h_zs_map", 1);
	return (unsigned long)p;
}

static int find_map(int cpu, unsigned long handle)
{
	int i;

	for (i = nr_maps[cpu] - 1; i >= 0; i--)
		if (maps[cpu][i].handle == handle)
			return i;
	return -1;
}

static void forget_map(int cpu, unsigned long handle)
{
	int i = find_map(cpu, handle);

	if (i < 0)
		return;
	memmove(&maps[cpu][i], &maps[cpu][i + 1], sizeof(maps[cpu][0]) * (nr_maps[cpu] - i - 1));
	nr_maps[cpu]--;
}

/* zs_unmap_object on the harness CPU (which may differ from the CPU that mapped it). */
int h_zs_unmap(unsigned long handle)
{
	ENTER(-1000);
	zs_unmap_object(pool, handle);
	forget_map(harness_cpu, handle);
	LEAVE("h_zs_unmap", 1);
	return 0;
}

/* Copy n bytes through the open mapping of handle on this CPU: to_kernel 1 writes buf there,
 * 0 reads into buf.  -ENOENT without such a mapping. */
int h_zs_mapped_copy(unsigned long handle, char *buf, long n, int to_kernel)
{
	int i;
	int ret = 0;

	ENTER(-1000);
	i = find_map(harness_cpu, handle);
	if (i < 0) {
		ret = -ENOENT;
	} else if (n < 0 || n > payload_of(handle)) {
		ret = -EINVAL;
	} else if (to_kernel) {
		memcpy(maps[harness_cpu][i].ptr, buf, n);
	} else {
		memcpy(buf, maps[harness_cpu][i].ptr, n);
	}
	LEAVE("h_zs_mapped_copy", 0);
	return ret;
}

/* map (mode), copy n bytes in or out, unmap: what a user of zsmalloc does.  -EINVAL when n is
 * more than the object holds (the harness refuses to write past it). */
int h_zs_access(unsigned long handle, char *buf, long n, int mode, int to_kernel)
{
	char *p;
	int ret = 0;

	ENTER(-1000);
	if (n < 0 || n > payload_of(handle)) {
		ret = -EINVAL;
		goto out;
	}
	p = zs_map_object(pool, handle, (enum zs_mapmode)mode);
	if (to_kernel)
		memcpy(p, buf, n);
	else
		memcpy(buf, p, n);
	zs_unmap_object(pool, handle);
out:
	LEAVE("h_zs_access", 0);
	return ret;
}

/* --- compaction, migration ----------------------------------------------------------------- */

unsigned long h_zs_compact(void)
{
	unsigned long freed;

	ENTER((unsigned long)-1);
	freed = zs_compact(pool);
	LEAVE("h_zs_compact", 0);
	return freed;
}

long h_zs_pages_compacted(void)
{
	struct zs_pool_stats st;

	zs_pool_stats(pool, &st);
	return atomic_long_read(&st.pages_compacted);
}

/* The shrinker as mm/shrinker.c drives it: count, then scan.  out: count, scan result. */
int h_zs_shrink(unsigned long *out)
{
	struct shrink_control sc = { .gfp_mask = GFP_KERNEL, .nr_to_scan = 128 };

	ENTER(-1000);
	out[0] = out[1] = 0;
	if (dd_zs_shrinker) {
		out[0] = dd_zs_shrinker->count_objects(dd_zs_shrinker, &sc);
		out[1] = dd_zs_shrinker->scan_objects(dd_zs_shrinker, &sc);
	}
	LEAVE("h_zs_shrink", 0);
	return 0;
}

/*
 * Migrate the page at index `idx` of the page array, approximating mm/migrate.c's caller
 * (6.1/6.12 isolate_movable_page, migrate_pages -> __unmap_and_move -> move_to_new_folio,
 * putback_movable_pages) for one non-LRU movable page:
 *   isolate: get_page; trylock_page (else -EBUSY); !PageMovable or PageIsolated -> -EBUSY;
 *            mops->isolate_page(page, 0) false -> -EBUSY; SetPageIsolated; unlock_page.
 *   target:  alloc_page(GFP_HIGHUSER_MOVABLE) (fault injection applies) -> -ENOMEM.
 *   move:    lock both pages; if the page stopped being movable (freed meanwhile) the move
 *            "succeeds" with nothing to do; else rc = mops->migrate_page(new, page,
 *            MIGRATE_SYNC); success: ClearPageIsolated(page), unlock both, put_page(page)
 *            (the isolation reference) and put_page(new) (the allocation reference: zsmalloc
 *            took its own).
 *   failure: unlock both, put_page(new); putback: lock_page, mops->putback_page if still
 *            movable, ClearPageIsolated, unlock, put_page.
 * Not approximated: retries (-EAGAIN is returned as it is), LRU pages, NUMA, the compaction
 * scanner that chooses pages; mode MIGRATE_SYNC only.
 */
int h_zs_migrate(long idx)
{
	struct page *page, *newpage;
	const struct movable_operations *mops;
	int rc;

	ENTER(-1000);
	if (!dd_zs_pages || idx < 0 || idx >= dd_zs_nr_pages) {
		rc = -EINVAL;
		goto out;
	}
	page = &dd_zs_pages[idx];
	rc = -EBUSY;
	if (atomic_read(&page->_refcount) == 0 || !__PageMovable(page))
		goto out;
	get_page(page);
	if (!trylock_page(page)) {
		put_page(page);
		goto out;
	}
	if (!PageMovable(page) || PageIsolated(page)) {
		unlock_page(page);
		put_page(page);
		goto out;
	}
	mops = page_movable_ops(page);
	if (!mops->isolate_page(page, 0)) {
		unlock_page(page);
		put_page(page);
		goto out;
	}
	WARN_ON_ONCE(PageIsolated(page));
	SetPageIsolated(page);
	unlock_page(page);

	newpage = alloc_page(GFP_HIGHUSER_MOVABLE);
	if (!newpage) {
		rc = -ENOMEM;
		goto putback;
	}
	if (!trylock_page(page)) {
		rc = -EAGAIN;
		put_page(newpage);
		goto putback;
	}
	__SetPageLocked(newpage);
	if (!PageMovable(page)) {
		/* freed while isolated: nothing to move */
		ClearPageIsolated(page);
		rc = MIGRATEPAGE_SUCCESS;
	} else {
		rc = mops->migrate_page(newpage, page, MIGRATE_SYNC);
		if (rc == MIGRATEPAGE_SUCCESS) {
			VM_BUG_ON_PAGE(!PageIsolated(page), page);
			ClearPageIsolated(page);
		}
	}
	unlock_page(newpage);
	unlock_page(page);
	put_page(newpage);
	if (rc == MIGRATEPAGE_SUCCESS) {
		put_page(page);
		goto out;
	}
putback:
	lock_page(page);
	if (PageMovable(page))
		page_movable_ops(page)->putback_page(page);
	ClearPageIsolated(page);
	unlock_page(page);
	put_page(page);
out:
	LEAVE("h_zs_migrate", 0);
	return rc;
}

/* --- statistics, classes, locations ------------------------------------------------------- */

unsigned long h_zs_total_pages(void)
{
	unsigned long n;

	ENTER(0);
	n = zs_get_total_pages(pool);
	LEAVE("h_zs_total_pages", 0);
	return n;
}

unsigned long h_zs_huge_class_size(void)
{
	return zs_huge_class_size(pool);
}

/* pool->size_class[slot]->index: the class a slot is merged into. */
int h_zs_slot_class(int slot)
{
	if (!pool || slot < 0 || slot >= ZS_SIZE_CLASSES)
		return -1;
	return pool->size_class[slot]->index;
}

/*
 * The distinct class owning slot i (class->index == i): out[0..3] = index, size,
 * pages_per_zspage, objs_per_zspage, then its h_zs_nr_stats() counters.  1 when slot i owns a
 * class, 0 when it is merged into a bigger one.
 */
int h_zs_class_info(int i, unsigned long *out)
{
	struct size_class *class;
	int s;

	if (!pool || i < 0 || i >= ZS_SIZE_CLASSES)
		return -1;
	class = pool->size_class[i];
	if (class->index != (unsigned int)i)
		return 0;
	out[0] = class->index;
	out[1] = class->size;
	out[2] = class->pages_per_zspage;
	out[3] = class->objs_per_zspage;
	for (s = 0; s < DD_NR_STATS; s++)
		out[4 + s] = class->stats.objs[s];
	return 1;
}

int h_zs_stat_allocated(void) { return DD_STAT_ALLOCATED; }
int h_zs_stat_used(void) { return DD_STAT_USED; }

/*
 * Where handle's object is, decoded by the real handle_to_obj/obj_to_location: out[0] class
 * index, out[1] the page index (in the page array) of the zspage's first page, out[2] the
 * index within its zspage of the page the object starts in, out[3] obj_idx, out[4] the
 * object's page index, out[5] the raw obj value.
 */
int h_zs_location(unsigned long handle, unsigned long *out)
{
	struct page *page, *p;
	unsigned int obj_idx;
	struct zspage *zspage;
	unsigned long obj;
	int n = 0;

	ENTER(-1000);
	obj = handle_to_obj(handle);
	obj_to_location(obj, &page, &obj_idx);
	zspage = get_zspage(page);
	out[0] = zspage_class(pool, zspage)->index;
	p = get_first_page(zspage);
	out[1] = p - dd_zs_pages;
	while (p && p != page) {
		p = get_next_page(p);
		n++;
	}
	out[2] = p ? n : (unsigned long)-1;
	out[3] = obj_idx;
	out[4] = page - dd_zs_pages;
	out[5] = obj;
	LEAVE("h_zs_location", 0);
	return 0;
}

/*
 * The per-CPU state behind "one mapping per CPU": out[0] the local_lock depth of
 * zs_map_area.lock, out[1] preempt_count, out[2] pagefault_disabled, out[3] kmap_atomic depth,
 * out[4] the area's vm_mm, out[5] open mappings the harness recorded on this CPU.
 */
int h_zs_cpu_state(int cpu, long *out)
{
	struct mapping_area *area;

	if (cpu < 0 || cpu >= HARNESS_NR_CPUS)
		return -EINVAL;
	area = per_cpu_ptr(&zs_map_area, cpu);
	out[0] = area->lock.held;
	out[1] = harness_cpus[cpu].preempt_count;
	out[2] = dd_zs_pagefault_disabled[cpu];
	out[3] = dd_zs_kmap_depth[cpu];
	out[4] = area->vm_mm;
	out[5] = nr_maps[cpu];
	return 0;
}
