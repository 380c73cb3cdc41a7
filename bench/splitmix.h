/*
 * splitmix.h: the bench generators' numbers, the same on every machine
 * (splitmix64). The generator defines SPLITMIX_SEED before including it,
 * so that each writes its own sequence.
 */
#include <stdint.h>

static uint64_t seed = SPLITMIX_SEED;

static uint64_t
rnd64(void)
{
	uint64_t z = (seed += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* A number from 0 to n - 1. */
static unsigned
rnd(unsigned n)
{
	return (unsigned)(rnd64() % n);
}
