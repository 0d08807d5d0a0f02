/*
 * Jim Cromie, "[PATCH 4/7] dyndbg: split struct _ddebug in 2, creating _ddebug_callsite"
 * (LKML, 7 Aug 2020, on v5.8): include/linux/dynamic_debug.h after the patch.
 */
#include "jump_label.h"

struct _ddebug;

/*
 * A pair of these structs are created in 2 special ELF sections
 * (__dyndbg, __dyndbg_callsites) for every dynamic debug callsite.
 * At runtime, the sections are treated as arrays.
 */
struct _ddebug_callsite {
	/*
	 * These fields are used to drive the user interface
	 * for selecting and displaying debug callsites.
	 */
	const char *modname;
	const char *function;
	const char *filename;
	const char *format;
	const unsigned int lineno:16;
} __aligned(8);

struct _ddebug {
	struct _ddebug_callsite *site;
	/*
	 * The flags field controls the behaviour at the callsite.
	 * The bits here are changed dynamically when the user
	 * writes commands to <debugfs>/dynamic_debug/control
	 */
#define _DPRINTK_FLAGS_NONE	0
#define _DPRINTK_FLAGS_PRINT	(1<<0) /* printk() a message using the format */
#define _DPRINTK_FLAGS_INCL_MODNAME	(1<<1)
#define _DPRINTK_FLAGS_INCL_FUNCNAME	(1<<2)
#define _DPRINTK_FLAGS_INCL_LINENO	(1<<3)
#define _DPRINTK_FLAGS_INCL_TID		(1<<4)
#define _DPRINTK_FLAGS_MAPPED		(1<<7) /* reserved */
#if defined DEBUG
#define _DPRINTK_FLAGS_DEFAULT _DPRINTK_FLAGS_PRINT
#else
#define _DPRINTK_FLAGS_DEFAULT 0
#endif
	unsigned int flags:8;
	/*
	 * TODO: key probably should be in _callsite, but that gave weird
	 * asm goto errors in jump_label.h, and I punted.
	 */
#ifdef CONFIG_JUMP_LABEL
	union {
		struct static_key_true dd_key_true;
		struct static_key_false dd_key_false;
	} key;
#endif
} __aligned(8);
