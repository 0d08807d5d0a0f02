/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dyndiet's harness: what every shim reports into.
 *
 * The kernel files run on one model machine of HARNESS_NR_CPUS CPUs.  The step that calls in
 * from Python sets the CPU and the context (process, softirq, hardirq) it runs in, as the
 * model's KernelContext does; preempt_count is laid out as include/linux/preempt.h lays it out.
 * Kernel code reports through harness_*(): printk lines, splats that the kernel survives
 * (sleeping in atomic context, WARN), and fatal events (BUG, an oops from a fault, a hang) that
 * return to the harness entry with siglongjmp and mark the kernel dead.  Python reads the events
 * through the harness_event_*() accessors after each call.
 */
#ifndef DYNDIET_HARNESS_H
#define DYNDIET_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#define HARNESS_NR_CPUS 2

/* include/linux/preempt.h */
#define HARNESS_PREEMPT_MASK	0x000000ffU
#define HARNESS_SOFTIRQ_OFFSET	0x00000100U
#define HARNESS_SOFTIRQ_MASK	0x0000ff00U
#define HARNESS_HARDIRQ_OFFSET	0x00010000U
#define HARNESS_HARDIRQ_MASK	0x000f0000U
#define HARNESS_NMI_MASK	0x00100000U

struct harness_cpu {
	unsigned int preempt_count;
	int irqs_disabled;
};

extern struct harness_cpu harness_cpus[HARNESS_NR_CPUS];
/* The CPU the current step runs on, and current->pid there. */
extern int harness_cpu;
extern int harness_pid;

#define harness_this_cpu() (&harness_cpus[harness_cpu])
#define harness_preempt_count() (harness_this_cpu()->preempt_count)

/* Event kinds, as Python reads them (kernel/process.py: EVENT_KINDS). */
enum harness_event_kind {
	HARNESS_EV_LOG = 0,	/* a printk line: msg, level in line */
	HARNESS_EV_SPLAT = 1,	/* survived: sleeping in atomic, a lock misuse */
	HARNESS_EV_WARN = 2,	/* WARN_ON: survived */
	HARNESS_EV_BUG = 3,	/* BUG()/BUG_ON(): fatal */
	HARNESS_EV_OOPS = 4,	/* a fault in kernel code: fatal, addr = faulting address */
	HARNESS_EV_HANG = 5,	/* the watchdog fired: fatal */
};

extern sigjmp_buf *harness_jmp;
extern int harness_dead;

void harness_begin(void);
void harness_end(void);

/* Entry from Python: a fatal event in kernel code returns here with `err`. */
#define HARNESS_ENTER(err)						\
	sigjmp_buf __harness_env;					\
	if (harness_dead)						\
		return (err);						\
	if (sigsetjmp(__harness_env, 1)) {				\
		harness_end();						\
		return (err);						\
	}								\
	harness_jmp = &__harness_env;					\
	harness_begin()
#define HARNESS_LEAVE() harness_end()

void harness_log(int level, const char *text);
void harness_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void harness_splat(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void harness_warn(const char *file, int line, const char *cond);
void harness_might_sleep(const char *file, int line);
__attribute__((noreturn)) void harness_bug(const char *file, int line);
__attribute__((noreturn)) void harness_fatal(int kind, const char *file, int line,
					     unsigned long addr, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The allocators, with fault injection: the next harness_fail_allocs allocations fail. */
extern int harness_fail_allocs;
int harness_should_fail_alloc(void);
void *harness_kmalloc(size_t size, int zero);
void harness_kfree(const void *p);
size_t harness_ksize(const void *p);
unsigned long harness_live_allocs(void);
unsigned long harness_live_bytes(void);

/* Initcalls: the shims' initcall macros register each function with its level (0 early,
 * 1..7 core..late); the glue runs a level when the step that stands for it comes. */
typedef int (*harness_initcall_t)(void);
void harness_register_initcall(int level, harness_initcall_t fn, const char *name);
int harness_run_initcalls(int level);

/* Accessors for Python (ctypes). */
int harness_set_context(int kind, int cpu);	/* kind: 0 process, 1 softirq, 2 hardirq */
void harness_set_watchdog_ms(int ms);
void harness_set_fail_allocs(int n);
int harness_nevents(void);
int harness_event_kind(int i);
const char *harness_event_file(int i);
int harness_event_line(int i);
unsigned long harness_event_addr(int i);
unsigned long harness_event_pc(int i);
const char *harness_event_msg(int i);
void harness_clear_events(void);
int harness_event_ntrace(int i);
unsigned long harness_event_trace(int i, int j);
int harness_is_dead(void);

#endif
