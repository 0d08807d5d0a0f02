/*
 * include/linux/jump_label.h, v5.8 (unchanged through v6.19): the static keys that
 * struct _ddebug embeds.  The type field's low bits are tags (JUMP_TYPE_*), which is why
 * struct static_key must be at least 4-byte aligned.
 */
struct static_key {
	atomic_t enabled;
#ifdef CONFIG_JUMP_LABEL
/*
 * bit 0 => 1 if key is initially true
 *	    0 if initially false
 * bit 1 => 1 if points to struct static_key_mod
 *	    0 if points to struct jump_entry
 */
	union {
		unsigned long type;
		struct jump_entry *entries;
		struct static_key_mod *next;
	};
#endif	/* CONFIG_JUMP_LABEL */
};

#define JUMP_TYPE_FALSE		0UL
#define JUMP_TYPE_TRUE		1UL
#define JUMP_TYPE_LINKED	2UL
#define JUMP_TYPE_MASK		3UL

struct static_key_true {
	struct static_key key;
};

struct static_key_false {
	struct static_key key;
};

/* CONFIG_HAVE_ARCH_JUMP_LABEL_RELATIVE (x86, arm64, s390, ppc64...): key bits 0-1 are tags */
struct jump_entry {
	s32 code;
	s32 target;
	long key;	// key may be far away from the core kernel under KASLR
};
