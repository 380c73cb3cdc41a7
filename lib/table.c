/*
 * table.c: a hash table of fixed-size items keyed by a session id, the
 * one lookup of sessions and sealed streams for every reader.
 *
 * Open addressing with linear probing; an item lives in its slot (a slot
 * whose key begins with NUL is empty: ids are never empty), and removal shifts the items after it back, so
 * there are no tombstones and the table holds only what is in it now.
 * Ids come from files an attacker may have written: the hash is SipHash-
 * 1-3 (the rounds Rust's and Python's tables use) under a random key, so
 * that no one can choose ids that collide.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "psm.h"

#define LOAD_NUM 1	/* grow beyond half full */
#define LOAD_DEN 2

static uint64_t
rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND do { \
	v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
	v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
} while (0)

/* SipHash-1-3 (Aumasson and Bernstein) of n bytes. */
static uint64_t
siphash(const uint64_t key[2], const unsigned char *p, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t b = (uint64_t)n << 56, m;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&m, p + i, 8);	/* little-endian words: the order does not matter here */
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (int k = 0; i + (size_t)k < n; k++)
		b |= (uint64_t)p[i + (size_t)k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	for (int r = 0; r < 3; r++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static unsigned char *
slot(const struct psm_table *t, size_t i)
{
	return t->slots + i * t->itemsize;
}

static size_t
home(const struct psm_table *t, const char *sid)
{
	return (size_t)siphash(t->key, (const unsigned char *)sid, PSM_SID_LEN) & (t->nslots - 1);
}

void
psm_table_init(struct psm_table *t, size_t itemsize)
{
	memset(t, 0, sizeof *t);
	t->itemsize = itemsize;
	/* Without randomness the table still works; it is only slower to attack. */
	if (getrandom(t->key, sizeof t->key, GRND_NONBLOCK) != (ssize_t)sizeof t->key)
		t->key[0] = (uint64_t)(uintptr_t)t ^ psm_mono_usec();
}

/* The slot of sid, or of the empty slot where it would go. */
static size_t
probe(const struct psm_table *t, const char *sid)
{
	size_t i = home(t, sid);

	while (slot(t, i)[0] && memcmp(slot(t, i), sid, PSM_SID_LEN) != 0)
		i = (i + 1) & (t->nslots - 1);
	return i;
}

void *
psm_table_find(const struct psm_table *t, const char *sid)
{
	if (t->count == 0)
		return NULL;
	unsigned char *s = slot(t, probe(t, sid));
	return s[0] ? s : NULL;
}

static void
grow(struct psm_table *t)
{
	struct psm_table old = *t;

	t->nslots = old.nslots ? old.nslots * 2 : 16;
	t->slots = xmalloc(t->nslots * t->itemsize);
	memset(t->slots, 0, t->nslots * t->itemsize);
	for (size_t i = 0; i < old.nslots; i++) {
		unsigned char *s = slot(&old, i);
		if (s[0])
			memcpy(slot(t, probe(t, (const char *)s)), s, t->itemsize);
	}
	free(old.slots);
}

/* A new item for sid (which must not be there yet), zeroed but for its key. */
void *
psm_table_add(struct psm_table *t, const char *sid)
{
	if ((t->count + 1) * LOAD_DEN > t->nslots * LOAD_NUM)
		grow(t);
	unsigned char *s = slot(t, probe(t, sid));
	memset(s, 0, t->itemsize);
	memcpy(s, sid, PSM_SID_LEN);
	t->count++;
	return s;
}

/* Take sid out; the items after it in its run move back to stay findable. */
void
psm_table_remove(struct psm_table *t, const char *sid)
{
	size_t mask = t->nslots - 1, i, j;

	if (t->count == 0 || !slot(t, i = probe(t, sid))[0])
		return;
	for (j = (i + 1) & mask; slot(t, j)[0]; j = (j + 1) & mask) {
		size_t h = home(t, (const char *)slot(t, j));
		/* j's item may fill the hole at i when its home is not in (i, j]. */
		bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (!stays) {
			memcpy(slot(t, i), slot(t, j), t->itemsize);
			i = j;
		}
	}
	slot(t, i)[0] = 0;
	t->count--;
}

void
psm_table_free(struct psm_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->nslots = t->count = 0;
}
