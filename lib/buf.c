/* buf.c: a growable byte buffer. Allocation failure ends the process. */
#include <stdlib.h>
#include <string.h>

#include "psm.h"

void
psm_buf_reserve(struct psm_buf *b, size_t more)
{
	size_t need = b->len + more;

	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
psm_buf_add(struct psm_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	psm_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
psm_buf_addc(struct psm_buf *b, char c)
{
	psm_buf_reserve(b, 1);
	b->data[b->len++] = c;
}

void
psm_buf_adds(struct psm_buf *b, const char *s)
{
	psm_buf_add(b, s, strlen(s));
}

/* Drop the first n bytes. */
void
psm_buf_consume(struct psm_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/*
 * Give back the room of a buffer that holds much less than it has room
 * for (a burst is not kept for good): down to twice what it holds, not
 * below keep.
 */
void
psm_buf_shrink(struct psm_buf *b, size_t keep)
{
	size_t cap = b->len * 2 > keep ? b->len * 2 : keep;

	if (b->cap <= keep || b->len > b->cap / 4)
		return;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
psm_buf_free(struct psm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Numbers in network order, as wire formats want them (SSH, PostgreSQL's binary COPY). */
void
psm_buf_add_be32(struct psm_buf *b, uint32_t v)
{
	unsigned char p[4] = { v >> 24, v >> 16, v >> 8, v };

	psm_buf_add(b, p, 4);
}

void
psm_buf_add_be64(struct psm_buf *b, uint64_t v)
{
	psm_buf_add_be32(b, (uint32_t)(v >> 32));
	psm_buf_add_be32(b, (uint32_t)v);
}
