// SPDX-License-Identifier: GPL-2.0
/*
 * dyndiet dyndbg area: memory that stands where the model's linker put things.  Each piece is
 * its own anonymous mapping whose data starts at the model address's offset in its page, so
 * pointer parity and alignment are the model's; unmapping it (rmmod frees the module's
 * memory) makes a pointer still aimed there fault, as in the kernel.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#define HMEM_PAGE 4096UL

void *hmem_map(unsigned long model_base, const void *data, unsigned long len, int readonly,
	       void **map_base, unsigned long *map_len)
{
	unsigned long off = model_base % HMEM_PAGE;
	unsigned long total = (off + len + HMEM_PAGE - 1) & ~(HMEM_PAGE - 1);
	char *p;

	if (!total)
		total = HMEM_PAGE;
	p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (data)
		memcpy(p + off, data, len);
	if (readonly)
		mprotect(p, total, PROT_READ);
	*map_base = p;
	*map_len = total;
	return p + off;
}

void hmem_unmap(void *map_base, unsigned long map_len)
{
	if (map_base)
		munmap(map_base, map_len);
}
