/* SPDX-License-Identifier: GPL-2.0 */
/* dyndiet shim: stands in for include/linux/rculist.h: the list operations with RCU's
 * publication order; list_del_rcu leaves ->next for readers and poisons ->prev only. */
#ifndef _SHIM_LINUX_RCULIST_H
#define _SHIM_LINUX_RCULIST_H
#include <linux/list.h>
#include <linux/rcupdate.h>
static inline void list_add_rcu(struct list_head *new, struct list_head *head)
{
	new->next = head->next;
	new->prev = head;
	barrier();
	head->next->prev = new;
	WRITE_ONCE(head->next, new);
}
static inline void list_add_tail_rcu(struct list_head *new, struct list_head *head)
{
	struct list_head *prev = head->prev;

	new->next = head;
	new->prev = prev;
	barrier();
	WRITE_ONCE(prev->next, new);
	head->prev = new;
}
static inline void list_del_rcu(struct list_head *entry)
{
	__list_del(entry->prev, entry->next);
	entry->prev = LIST_POISON2;
}
#define list_for_each_entry_rcu(pos, head, member, ...)			\
	for (pos = list_entry(READ_ONCE((head)->next), typeof(*pos), member);	\
	     !list_entry_is_head(pos, head, member);				\
	     pos = list_entry(READ_ONCE(pos->member.next), typeof(*pos), member))
#endif
