// SPDX-License-Identifier: GPL-2.0
/*
 * dyndiet's harness (see harness.h): context, events, fatal returns, allocators, signals.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#include "harness.h"

struct harness_cpu harness_cpus[HARNESS_NR_CPUS];
int harness_cpu;
int harness_pid = 1;
sigjmp_buf *harness_jmp;
int harness_dead;
int harness_fail_allocs;
static int harness_watchdog_ms = 2000;

#define HARNESS_MAX_EVENTS 512
#define HARNESS_MSG 512
#define HARNESS_TRACE 24

struct harness_event {
	int kind;
	char file[128];
	int line;
	unsigned long addr;
	unsigned long pc;
	char msg[HARNESS_MSG];
	/* the call trace of a fatal event: offsets in this object (0: outside it) */
	int ntrace;
	unsigned long trace[HARNESS_TRACE];
};

static struct harness_event events[HARNESS_MAX_EVENTS];
static int nevents;

static void record_trace(struct harness_event *ev);

static struct harness_event *event_new(int kind, const char *file, int line)
{
	struct harness_event *ev;

	if (nevents == HARNESS_MAX_EVENTS) {
		/* keep the last slot for what matters most: a fatal event */
		if (kind < HARNESS_EV_BUG)
			return NULL;
		nevents--;
	}
	ev = &events[nevents++];
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	if (file)
		snprintf(ev->file, sizeof(ev->file), "%s", file);
	ev->line = line;
	return ev;
}

void harness_log(int level, const char *text)
{
	struct harness_event *ev = event_new(HARNESS_EV_LOG, NULL, level);

	if (ev)
		snprintf(ev->msg, sizeof(ev->msg), "%s", text);
}

void harness_logf(int level, const char *fmt, ...)
{
	char buf[HARNESS_MSG];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	harness_log(level, buf);
}

void harness_splat(const char *file, int line, const char *fmt, ...)
{
	struct harness_event *ev = event_new(HARNESS_EV_SPLAT, file, line);
	va_list ap;

	if (!ev)
		return;
	va_start(ap, fmt);
	vsnprintf(ev->msg, sizeof(ev->msg), fmt, ap);
	va_end(ap);
	record_trace(ev);
}

void harness_warn(const char *file, int line, const char *cond)
{
	struct harness_event *ev = event_new(HARNESS_EV_WARN, file, line);

	if (ev)
		snprintf(ev->msg, sizeof(ev->msg), "WARNING: CPU: %d at %s:%d: %s",
			 harness_cpu, file, line, cond);
}

/* kernel/sched/core.c:__might_sleep / __might_resched: the splat, survived. */
void harness_might_sleep(const char *file, int line)
{
	struct harness_cpu *c = harness_this_cpu();

	if ((c->preempt_count == 0 && !c->irqs_disabled))
		return;
	harness_splat(file, line, "BUG: sleeping function called from invalid context at %s:%d",
		      file, line);
}

void harness_fatal(int kind, const char *file, int line, unsigned long addr,
		   const char *fmt, ...)
{
	struct harness_event *ev = event_new(kind, file, line);
	va_list ap;

	if (ev) {
		ev->addr = addr;
		va_start(ap, fmt);
		vsnprintf(ev->msg, sizeof(ev->msg), fmt, ap);
		va_end(ap);
		record_trace(ev);
	}
	harness_dead = 1;
	if (harness_jmp)
		siglongjmp(*harness_jmp, 1);
	/* no entry to return to: end the worker, the parent reports it */
	_exit(70);
}

/* include/asm-generic/bug.h: "kernel BUG at FILE:LINE!" */
void harness_bug(const char *file, int line)
{
	harness_fatal(HARNESS_EV_BUG, file, line, 0, "kernel BUG at %s:%d!", file, line);
}

/* --- signals: a fault or a hang inside kernel code ends the call, not the process ---------- */

/* The call trace at a fatal event, as offsets into this object (dump_stack's "Call Trace:").
 * backtrace() unwinds through the signal frame; it was warmed up at load, so it does not
 * allocate here. */
static void record_trace(struct harness_event *ev)
{
	void *bt[HARNESS_TRACE];
	Dl_info self, info;
	int i, n = backtrace(bt, HARNESS_TRACE);

	if (!dladdr((void *)record_trace, &self))
		return;
	ev->ntrace = 0;
	for (i = 0; i < n; i++) {
		if (dladdr(bt[i], &info) && info.dli_fbase == self.dli_fbase)
			ev->trace[ev->ntrace++] = (unsigned long)bt[i] -
						  (unsigned long)self.dli_fbase;
	}
}

static unsigned long pc_of(void *uctx)
{
#if defined(__x86_64__)
	return (unsigned long)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (unsigned long)((ucontext_t *)uctx)->uc_mcontext.pc;
#else
	(void)uctx;
	return 0;
#endif
}

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
	unsigned long pc = pc_of(uctx);
	int kind = sig == SIGALRM ? HARNESS_EV_HANG : HARNESS_EV_OOPS;
	struct harness_event *ev = event_new(kind, NULL, 0);

	if (ev) {
		Dl_info info;

		ev->pc = pc;
		if (pc && dladdr((void *)pc, &info) && info.dli_fbase) {
			ev->pc = pc - (unsigned long)info.dli_fbase;
			snprintf(ev->file, sizeof(ev->file), "%s", info.dli_fname);
		}
		if (kind == HARNESS_EV_HANG) {
			snprintf(ev->msg, sizeof(ev->msg),
				 "watchdog: BUG: soft lockup - CPU#%d stuck for %dms!",
				 harness_cpu, harness_watchdog_ms);
		} else if (sig == SIGILL) {
			snprintf(ev->msg, sizeof(ev->msg), "invalid opcode: 0000 [#1] CPU: %d",
				 harness_cpu);
		} else if (sig == SIGFPE) {
			snprintf(ev->msg, sizeof(ev->msg), "divide error: 0000 [#1] CPU: %d",
				 harness_cpu);
		} else {
			ev->addr = (unsigned long)si->si_addr;
			snprintf(ev->msg, sizeof(ev->msg),
				 "BUG: unable to handle page fault for address: %016lx",
				 (unsigned long)si->si_addr);
		}
		record_trace(ev);
	}
	harness_dead = 1;
	if (harness_jmp)
		siglongjmp(*harness_jmp, 1);
	_exit(128 + sig);
}

static char altstack[1 << 16];

__attribute__((constructor)) static void harness_install(void)
{
	struct sigaction sa;
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGALRM };
	size_t i;
	void *warm[2];

	backtrace(warm, 2);	/* loads the unwinder now, not in a signal handler */
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

void harness_begin(void)
{
	struct itimerval t = { { 0, 0 }, { harness_watchdog_ms / 1000,
					    (harness_watchdog_ms % 1000) * 1000 } };

	if (harness_watchdog_ms > 0)
		setitimer(ITIMER_REAL, &t, NULL);
}

void harness_end(void)
{
	struct itimerval t = { { 0, 0 }, { 0, 0 } };

	setitimer(ITIMER_REAL, &t, NULL);
	harness_jmp = NULL;
}

/* --- allocators ---------------------------------------------------------------------------- */

/* Each allocation carries its size in a header, so ksize() and leak counts are exact. */
struct harness_alloc {
	size_t size;
	unsigned long magic;
	unsigned long pad[2];
};
#define HARNESS_ALLOC_MAGIC 0x6b6d616c6c6f6321UL
static unsigned long live_allocs;
static unsigned long live_bytes;

int harness_should_fail_alloc(void)
{
	if (harness_fail_allocs > 0) {
		harness_fail_allocs--;
		return 1;
	}
	return 0;
}

void *harness_kmalloc(size_t size, int zero)
{
	struct harness_alloc *h;

	if (harness_should_fail_alloc())
		return NULL;
	h = malloc(sizeof(*h) + (size ? size : 1));
	if (!h)
		return NULL;
	h->size = size;
	h->magic = HARNESS_ALLOC_MAGIC;
	if (zero)
		memset(h + 1, 0, size);
	else
		memset(h + 1, 0x6b, size);	/* POISON_INUSE-like: no hidden zeroes */
	live_allocs++;
	live_bytes += size;
	return h + 1;
}

void harness_kfree(const void *p)
{
	struct harness_alloc *h;

	if (!p || (unsigned long)p < 4096)	/* NULL and ZERO_SIZE_PTR */
		return;
	h = (struct harness_alloc *)p - 1;
	if (h->magic != HARNESS_ALLOC_MAGIC)
		harness_fatal(HARNESS_EV_BUG, __FILE__, __LINE__, (unsigned long)p,
			      "kernel BUG: kfree of a bad pointer %px", p);
	h->magic = 0;
	memset(h + 1, 0x6b, h->size);		/* POISON_FREE-like */
	live_allocs--;
	live_bytes -= h->size;
	free(h);
}

size_t harness_ksize(const void *p)
{
	return p ? ((const struct harness_alloc *)p - 1)->size : 0;
}

unsigned long harness_live_allocs(void)
{
	return live_allocs;
}

unsigned long harness_live_bytes(void)
{
	return live_bytes;
}

/* --- initcalls ----------------------------------------------------------------------------- */

#define HARNESS_MAX_INITCALLS 64
static struct { int level; harness_initcall_t fn; const char *name; }
	initcalls[HARNESS_MAX_INITCALLS];
static int ninitcalls;

void harness_register_initcall(int level, harness_initcall_t fn, const char *name)
{
	if (ninitcalls < HARNESS_MAX_INITCALLS)
		initcalls[ninitcalls++] = (typeof(initcalls[0])){ level, fn, name };
}

/* init/main.c:do_initcall_level for one level, in registration (link) order; like
 * do_one_initcall, a failing initcall is logged and the others still run.  Returns how many
 * ran. */
int harness_run_initcalls(int level)
{
	int i, n = 0, ret;

	for (i = 0; i < ninitcalls; i++) {
		if (initcalls[i].level != level)
			continue;
		ret = initcalls[i].fn();
		n++;
		if (ret)
			harness_logf(4, "initcall %s returned %d", initcalls[i].name, ret);
	}
	return n;
}

/* --- accessors for Python ----------------------------------------------------------------- */

int harness_set_context(int kind, int cpu)
{
	struct harness_cpu *c;

	if (cpu < 0 || cpu >= HARNESS_NR_CPUS || kind < 0 || kind > 2)
		return -1;
	harness_cpu = cpu;
	c = harness_this_cpu();
	c->preempt_count &= ~(HARNESS_SOFTIRQ_MASK | HARNESS_HARDIRQ_MASK);
	c->irqs_disabled = 0;
	if (kind == 1)
		c->preempt_count += HARNESS_SOFTIRQ_OFFSET;
	if (kind == 2) {
		c->preempt_count += HARNESS_HARDIRQ_OFFSET;
		c->irqs_disabled = 1;
	}
	return 0;
}

void harness_set_watchdog_ms(int ms) { harness_watchdog_ms = ms; }
void harness_set_fail_allocs(int n) { harness_fail_allocs = n; }
int harness_nevents(void) { return nevents; }
int harness_event_kind(int i) { return events[i].kind; }
const char *harness_event_file(int i) { return events[i].file; }
int harness_event_line(int i) { return events[i].line; }
unsigned long harness_event_addr(int i) { return events[i].addr; }
unsigned long harness_event_pc(int i) { return events[i].pc; }
const char *harness_event_msg(int i) { return events[i].msg; }
void harness_clear_events(void) { nevents = 0; }
int harness_event_ntrace(int i) { return events[i].ntrace; }
unsigned long harness_event_trace(int i, int j) { return events[i].trace[j]; }
int harness_is_dead(void) { return harness_dead; }
