// SPDX-License-Identifier: GPL-2.0
/*
 * dyndiet dyndbg area: the real lib/dynamic_debug.c, included whole (as tools/testing/vma
 * includes mm/vma.c) so its static functions are reachable, and the h_* entries Python calls
 * (kernel/dyndbg.py).  Every entry runs between HARNESS_ENTER and HARNESS_LEAVE.
 *
 * Images: vmlinux (image 0 by convention of the caller) and each module are an array of
 * struct _ddebug records built here by assigning fields (the layout is the compiler's), at an
 * address congruent to the model's record address modulo the page size; their string
 * pointers are the model's addresses relocated into copies of the model's string regions
 * (same page offsets: odd pointers stay odd, shared tails stay shared).
 *
 * Features come from the source text (kernel/dyndbg.py passes them as -D flags):
 *   DYNDIET_MODULE_NOTIFIER  modules come and go through ddebug_module_notify (6.4+)
 */

/* the linker's section bounds, as pointers the harness sets */
#define __start___dyndbg (*harness___start___dyndbg)
#define __stop___dyndbg (*harness___stop___dyndbg)
#define __start___dyndbg_classes (*harness___start___dyndbg_classes)
#define __stop___dyndbg_classes (*harness___stop___dyndbg_classes)

#include "lib/dynamic_debug.c"

#undef __start___dyndbg
#undef __stop___dyndbg
#undef __start___dyndbg_classes
#undef __stop___dyndbg_classes

struct _ddebug (*harness___start___dyndbg)[];
struct _ddebug (*harness___stop___dyndbg)[];
struct ddebug_class_map (*harness___start___dyndbg_classes)[];
struct ddebug_class_map (*harness___stop___dyndbg_classes)[];

void *hmem_map(unsigned long model_base, const void *data, unsigned long len, int readonly,
	       void **map_base, unsigned long *map_len);
void hmem_unmap(void *map_base, unsigned long map_len);

extern char shim_printk_last[];
extern int shim_printk_last_len;

#define H_MAX_IMAGES 64
#define H_MAX_REGIONS 256
#define H_MAX_CLASSES 16

struct h_region {
	int image;
	unsigned long base, len;
	char *data;
	void *map;
	unsigned long map_len;
};

struct h_image {
	int used;
	int builtin;
	int loaded;		/* a module between insmod and rmmod */
	struct module mod;	/* name[] is the pointer ddebug_add_module keeps */
	struct _ddebug *records;
	int count;
	unsigned long records_addr;
	void *map;
	unsigned long map_len;
	struct ddebug_class_map classes[H_MAX_CLASSES];
	int nclasses;
};

/* dynamic_debug_init_control created the control file (it does not after a failed init) */
static int h_control_exists;

static struct h_region h_regions[H_MAX_REGIONS];
static int h_nregions;
static struct h_image h_images[H_MAX_IMAGES];

static struct h_image *h_img(int i)
{
	if (i < 0 || i >= H_MAX_IMAGES || !h_images[i].used)
		return NULL;
	return &h_images[i];
}

/* --- building images --------------------------------------------------------------------- */

/* A new image: `count` records at an address congruent to `records_addr` (mod PAGE_SIZE). */
int h_image_new(const char *name, int builtin, unsigned long records_addr, int count)
{
	struct h_image *im = NULL;
	int i;

	for (i = 0; i < H_MAX_IMAGES; i++)
		if (!h_images[i].used) {
			im = &h_images[i];
			break;
		}
	if (!im || count < 0)
		return -ENOMEM;
	memset(im, 0, sizeof(*im));
	strscpy(im->mod.name, name, sizeof(im->mod.name));
	im->builtin = builtin;
	im->count = count;
	im->records_addr = records_addr;
	im->records = hmem_map(records_addr, NULL, count * sizeof(struct _ddebug) + 1, 0,
			       &im->map, &im->map_len);
	if (!im->records)
		return -ENOMEM;
	im->used = 1;
	return i;
}

/* A copy of the model's string region [base, base + len) for image `img`. */
int h_region_map(int img, unsigned long base, const char *data, unsigned long len)
{
	struct h_region *r;

	if (!h_img(img) || h_nregions == H_MAX_REGIONS)
		return -ENOMEM;
	r = &h_regions[h_nregions];
	r->data = hmem_map(base, data, len, 1, &r->map, &r->map_len);
	if (!r->data)
		return -ENOMEM;
	r->image = img;
	r->base = base;
	r->len = len;
	return h_nregions++;
}

static const char *h_reloc(unsigned long addr, int *ok)
{
	int i;

	for (i = 0; i < h_nregions; i++) {
		struct h_region *r = &h_regions[i];

		if (r->data && addr >= r->base && addr < r->base + r->len)
			return r->data + (addr - r->base);
	}
	*ok = 0;
	return NULL;
}

/* Record k of image img, field by field (DEFINE_DYNAMIC_DEBUG_METADATA's initialiser). */
int h_image_set(int img, int k, unsigned long modname, unsigned long function,
		unsigned long filename, unsigned long format, unsigned int lineno,
		unsigned int class_id, unsigned int flags)
{
	struct h_image *im = h_img(img);
	struct _ddebug *dp;
	int ok = 1;

	if (!im || k < 0 || k >= im->count)
		return -EINVAL;
	dp = &im->records[k];
	memset(dp, 0, sizeof(*dp));
	dp->modname = h_reloc(modname, &ok);
	dp->function = h_reloc(function, &ok);
	dp->filename = h_reloc(filename, &ok);
	dp->format = h_reloc(format, &ok);
	if (!ok)
		return -EFAULT;
	dp->lineno = lineno;
	dp->class_id = class_id;
	dp->flags = flags;
#ifdef CONFIG_JUMP_LABEL
	if (flags & _DPRINTK_FLAGS_PRINT)
		dp->key.dd_key_true = STATIC_KEY_TRUE_INIT;
	else
		dp->key.dd_key_false = STATIC_KEY_FALSE_INIT;
#endif
	return 0;
}

/* One DECLARE_DYNDBG_CLASSMAP of image img: `n` NUL-separated names in `names`. */
int h_image_add_class(int img, const char *mod_name, int base, int map_type,
		      const char *names, int n)
{
	struct h_image *im = h_img(img);
	const char **cn;
	int j;

	if (!im || im->nclasses == H_MAX_CLASSES || n < 0)
		return -EINVAL;
	cn = harness_kmalloc(sizeof(*cn) * (n ? n : 1), 1);
	for (j = 0; j < n; j++) {
		cn[j] = kstrdup(names, GFP_ATOMIC);
		names += strlen(names) + 1;
	}
	{
		struct ddebug_class_map cm = {
			.mod_name = kstrdup(mod_name, GFP_ATOMIC),
			.class_names = cn,
			.length = n,
			.base = base,
			.map_type = map_type,
		};
		memcpy(&im->classes[im->nclasses++], &cm, sizeof(cm));
	}
	return 0;
}

/* --- boot ---------------------------------------------------------------------------------- */

static char h_empty_section[64] __aligned(64);

/* dynamic_debug_init (early_initcall) over image img as vmlinux' __dyndbg with `cmdline` as
 * saved_command_line, then dynamic_debug_init_control (fs_initcall). */
int h_boot(int img, const char *cmdline)
{
	struct h_image *im = h_img(img);
	int rc;

	HARNESS_ENTER(-1000);
	if (!im) {
		HARNESS_LEAVE();
		return -EINVAL;
	}
	if (im->count) {
		harness___start___dyndbg = (void *)im->records;
		harness___stop___dyndbg = (void *)(im->records + im->count);
	} else {
		harness___start___dyndbg = (void *)h_empty_section;
		harness___stop___dyndbg = (void *)h_empty_section;
	}
	harness___start___dyndbg_classes = (void *)im->classes;
	harness___stop___dyndbg_classes = (void *)(im->classes + im->nclasses);
	saved_command_line = kstrdup(cmdline ? cmdline : "", GFP_ATOMIC);
	rc = dynamic_debug_init();
	h_control_exists = dynamic_debug_init_control() == 0;
	im->loaded = 1;
	HARNESS_LEAVE();
	return rc;
}

/* late_initcall: every late initcall the build registered (a patch's pool copy runs here). */
int h_late_init(void)
{
	int n;

	HARNESS_ENTER(-1000);
	n = harness_run_initcalls(7);
	HARNESS_LEAVE();
	return n;
}

int h_set_verbose(int v)
{
	int old = verbose;

	verbose = v;
	return old;
}

/* --- queries and the control file ------------------------------------------------------------ */

int h_exec_queries(const char *query, const char *modname)
{
	char *q;
	int rc;

	HARNESS_ENTER(-1000);
	q = kstrdup(query, GFP_ATOMIC);
	rc = q ? ddebug_exec_queries(q, modname) : -ENOMEM;
	kfree(q);
	HARNESS_LEAVE();
	return rc;
}

/* write(2) of len bytes at ubuf to the control file (open, write, release); -ENOENT when
 * dynamic_debug_init_control made no control file. */
long h_control_write(const char *ubuf, unsigned long len)
{
	struct file f = { 0 };
	struct inode ino = { 0 };
	loff_t pos = 0;
	long rc;

	HARNESS_ENTER(-1000);
	rc = h_control_exists ? ddebug_proc_open(&ino, &f) : -ENOENT;
	if (!rc) {
		rc = ddebug_proc_write(&f, ubuf, len, &pos);
		seq_release_private(&ino, &f);
	}
	HARNESS_LEAVE();
	return rc;
}

/* cat of the control file: open, read(2) in `chunk`-byte reads until 0, release.  Returns the
 * bytes read (at most cap), or a negative errno. */
long h_control_read(char *out, unsigned long cap, unsigned long chunk)
{
	struct file f = { 0 };
	struct inode ino = { 0 };
	loff_t pos = 0;
	unsigned long total = 0;
	long rc;

	HARNESS_ENTER(-1000);
	rc = h_control_exists ? ddebug_proc_open(&ino, &f) : -ENOENT;
	if (!rc) {
		while (total < cap) {
			unsigned long want = cap - total < chunk ? cap - total : chunk;
			ssize_t n = seq_read(&f, out + total, want, &pos);

			if (n < 0) {
				rc = n;
				break;
			}
			if (n == 0)
				break;
			total += n;
		}
		seq_release_private(&ino, &f);
	}
	HARNESS_LEAVE();
	return rc < 0 ? rc : (long)total;
}

/* --- modules ------------------------------------------------------------------------------- */

/* load_module's dyndbg steps: the table (ddebug_add_module, or the notifier's
 * MODULE_STATE_COMING), then, with with_param, the module's dyndbg parameter through
 * ddebug_dyndbg_module_param_cb (val NULL: a bare `dyndbg`). */
int h_insmod(int img, int with_param, const char *val)
{
	struct h_image *im = h_img(img);
	struct _ddebug_info di = { 0 };
	int rc;

	HARNESS_ENTER(-1000);
	if (!im || im->builtin || im->loaded) {
		HARNESS_LEAVE();
		return -EINVAL;
	}
	di.descs = im->records;
	di.num_descs = im->count;
	di.classes = im->nclasses ? im->classes : NULL;
	di.num_classes = im->nclasses;
#ifdef DYNDIET_MODULE_NOTIFIER
	im->mod.dyndbg_info = di;
	im->mod.state = MODULE_STATE_COMING;
	rc = shim_module_notifier ? notifier_to_errno(shim_module_notifier->notifier_call(
		shim_module_notifier, MODULE_STATE_COMING, &im->mod)) : 0;
#else
	rc = ddebug_add_module(&di, im->mod.name);
#endif
	im->loaded = 1;
	if (with_param) {
		char param[] = "dyndbg";
		char *v = val ? kstrdup(val, GFP_KERNEL) : NULL;

		ddebug_dyndbg_module_param_cb(param, v, im->mod.name);
		kfree(v);
	}
	HARNESS_LEAVE();
	return rc;
}

/* free_module's dyndbg step (ddebug_remove_module with the same name pointer, or the
 * notifier's MODULE_STATE_GOING), then the module's memory goes: its records and strings are
 * unmapped. */
int h_rmmod(int img)
{
	struct h_image *im = h_img(img);
	int rc, i;

	HARNESS_ENTER(-1000);
	if (!im || im->builtin || !im->loaded) {
		HARNESS_LEAVE();
		return -EINVAL;
	}
#ifdef DYNDIET_MODULE_NOTIFIER
	im->mod.state = MODULE_STATE_GOING;
	rc = shim_module_notifier ? notifier_to_errno(shim_module_notifier->notifier_call(
		shim_module_notifier, MODULE_STATE_GOING, &im->mod)) : 0;
#else
	rc = ddebug_remove_module(im->mod.name);
#endif
	im->loaded = 0;
	hmem_unmap(im->map, im->map_len);
	im->map = NULL;
	im->records = NULL;
	for (i = 0; i < h_nregions; i++)
		if (h_regions[i].image == img && h_regions[i].data) {
			hmem_unmap(h_regions[i].map, h_regions[i].map_len);
			h_regions[i].data = NULL;
		}
	im->used = 0;
	HARNESS_LEAVE();
	return rc;
}

/* --- callsites ----------------------------------------------------------------------------- */

/* Whether some ddebug_table holds record k of img (model: core.find_callsite). */
int h_site_listed(int img, int k)
{
	struct h_image *im = h_img(img);
	struct ddebug_table *dt;

	if (!im || !im->records || k < 0 || k >= im->count)
		return 0;
	list_for_each_entry(dt, &ddebug_tables, link)
		if (&im->records[k] >= dt->ddebugs && &im->records[k] < dt->ddebugs + dt->num_ddebugs)
			return 1;
	return 0;
}

/* A pr_debug at record k of img: DYNAMIC_DEBUG_BRANCH as include/linux/dynamic_debug.h tests
 * it, then __dynamic_pr_debug(dp, "%s", text), on `cpu` in `context` (0 process, 1 softirq,
 * 2 hardirq) with current->pid `pid`; process context again after.  Returns the length of
 * the printed line (prefix and message, level taken off) copied to out, or -1 when nothing
 * printed. */
int h_hit(int img, int k, int context, int cpu, int pid, const char *text, char *out, int cap)
{
	struct h_image *im = h_img(img);
	struct _ddebug *dp;
	int n = -1;

	HARNESS_ENTER(-1000);
	if (!im || !im->records || k < 0 || k >= im->count ||
	    harness_set_context(context, cpu)) {
		HARNESS_LEAVE();
		return -2;
	}
	dp = &im->records[k];
	harness_pid = pid;
	shim_printk_last_len = -1;
	if (DYNAMIC_DEBUG_BRANCH((*dp)))
		__dynamic_pr_debug(dp, "%s", text);
	harness_set_context(0, cpu);
	if (shim_printk_last_len >= 0) {
		n = shim_printk_last_len < cap ? shim_printk_last_len : cap;
		memcpy(out, shim_printk_last, n);
	}
	HARNESS_LEAVE();
	return n;
}

/* Record k of img: which = 0 modname, 1 function, 2 filename, 3 format. */
const char *h_site_str(int img, int k, int which)
{
	struct h_image *im = h_img(img);
	struct _ddebug *dp;

	if (!im || !im->records || k < 0 || k >= im->count)
		return NULL;
	dp = &im->records[k];
	switch (which) {
	case 0: return dp->modname;
	case 1: return dp->function;
	case 2: return dp->filename;
	case 3: return dp->format;
	}
	return NULL;
}

unsigned long h_site_ptr(int img, int k, int which)
{
	return (unsigned long)h_site_str(img, k, which);
}

/* The model address a string field points at (the relocation undone). */
unsigned long h_site_addr(int img, int k, int which)
{
	const char *p = h_site_str(img, k, which);
	int i;

	for (i = 0; p && i < h_nregions; i++) {
		struct h_region *r = &h_regions[i];

		if (r->data && p >= r->data && p < r->data + r->len)
			return r->base + (p - r->data);
	}
	return 0;
}

/* which = 0 lineno, 1 class_id, 2 flags, 3 static key enabled (-1 without CONFIG_JUMP_LABEL),
 * 4 the key's type word (-1 without). */
long h_site_int(int img, int k, int which)
{
	struct h_image *im = h_img(img);
	struct _ddebug *dp;

	if (!im || !im->records || k < 0 || k >= im->count)
		return -2;
	dp = &im->records[k];
	switch (which) {
	case 0: return dp->lineno;
	case 1: return dp->class_id;
	case 2: return dp->flags;
#ifdef CONFIG_JUMP_LABEL
	case 3: return static_key_enabled(&dp->key.dd_key_true.key);
	case 4: return (long)dp->key.dd_key_true.key.type;
#else
	case 3: case 4: return -1;
#endif
	}
	return -2;
}

/* The address (in this process) of record k of img, for parity checks. */
unsigned long h_site_record(int img, int k)
{
	struct h_image *im = h_img(img);

	if (!im || !im->records || k < 0 || k >= im->count)
		return 0;
	return (unsigned long)&im->records[k];
}

/* --- layout of struct _ddebug, from the compiler ---------------------------------------------- */

unsigned long h_sizeof_ddebug(void)
{
	return sizeof(struct _ddebug);
}

unsigned long h_alignof_ddebug(void)
{
	return __alignof__(struct _ddebug);
}

static void h_bits(const unsigned char *b, size_t n, int *off, int *size)
{
	size_t i;

	*off = -1;
	*size = 0;
	for (i = 0; i < n * 8; i++)
		if (b[i / 8] & (1u << (i % 8))) {
			if (*off < 0)
				*off = i;
			(*size)++;
		}
}

/* Bit offset (want_size 0) or bit size (1) of a field: 0 modname, 1 function, 2 filename,
 * 3 format, 4 lineno, 5 class_id, 6 flags, 7 key.dd_key_true.key.enabled.counter,
 * 8 key.dd_key_true.key.type; -1 for a field the build has not. */
int h_ddebug_field(int which, int want_size)
{
	struct _ddebug d;
	int off, size;

	memset(&d, 0, sizeof(d));
	switch (which) {
	case 0: d.modname = (void *)~0UL; break;
	case 1: d.function = (void *)~0UL; break;
	case 2: d.filename = (void *)~0UL; break;
	case 3: d.format = (void *)~0UL; break;
	case 4: d.lineno = ~0U; break;
	case 5: d.class_id = ~0U; break;
	case 6: d.flags = ~0U; break;
#ifdef CONFIG_JUMP_LABEL
	case 7: d.key.dd_key_true.key.enabled.counter = -1; break;
	case 8: d.key.dd_key_true.key.type = ~0UL; break;
#endif
	default: return -1;
	}
	h_bits((const unsigned char *)&d, sizeof(d), &off, &size);
	return want_size ? size : off;
}
