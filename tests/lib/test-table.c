/*
 * test-table.c: the session table (lib/table.c): many ids in and out,
 * removal inside probe runs (backward shift), and slots that stay
 * bounded by the items present at once.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "psm.h"
#include "check.h"

struct item {
	char sid[PSM_SID_LEN + 1];
	uint64_t value;
};

/* splitmix64: a bijection of its counter, so distinct i give distinct ids. */
static uint64_t
mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/*
 * The i-th id of a series: a random-looking lower-case UUID (version 4,
 * variant a) that holds all 64 bits of mix(i ^ series << 40), so that
 * distinct i of a series give distinct ids.
 */
static void
make_sid(char out[PSM_SID_LEN + 1], uint64_t series, uint64_t i)
{
	uint64_t a = mix(i ^ series << 40), b = mix(a ^ series);

	snprintf(out, PSM_SID_LEN + 1, "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64
	    "-%012" PRIx64, a >> 32, (a >> 16) & 0xffff, (a >> 4) & 0xfff,
	    (a & 0xf) << 8 | b >> 56, b & UINT64_C(0xffffffffffff));
}

static size_t
slot_of(const struct psm_table *t, const void *item)
{
	return (size_t)((const unsigned char *)item - t->slots) / t->itemsize;
}

static void
test_many(void)
{
	enum { N = 100000 };
	struct psm_table t;
	struct item *it;
	char sid[PSM_SID_LEN + 1];

	psm_table_init(&t, sizeof(struct item));
	CHECK(psm_table_find(&t, "00000000-0000-4000-a000-000000000000") == NULL,
	    "an empty table finds nothing");
	for (uint64_t i = 0; i < N; i++) {
		make_sid(sid, 1, i);
		it = psm_table_add(&t, sid);
		if (!CHECK(it != NULL && strcmp(it->sid, sid) == 0 && it->value == 0,
		    "add %s: a zeroed item with its key", sid))
			break;
		it->value = i + 1;
	}
	CHECK_EQ(t.count, N);
	for (uint64_t i = 0; i < N; i++) {
		make_sid(sid, 1, i);
		it = psm_table_find(&t, sid);
		if (!CHECK(it != NULL && it->value == i + 1, "id %" PRIu64 " found with its value", i))
			break;
	}
	for (uint64_t i = 0; i < N; i += 2) {
		make_sid(sid, 1, i);
		psm_table_remove(&t, sid);
	}
	CHECK_EQ(t.count, N / 2);
	for (uint64_t i = 0; i < N; i++) {
		make_sid(sid, 1, i);
		it = psm_table_find(&t, sid);
		if (i % 2 == 0 ? !CHECK(it == NULL, "removed id %" PRIu64 " is not found", i) :
		    !CHECK(it != NULL && it->value == i + 1, "kept id %" PRIu64 " is found", i))
			break;
	}
	/* Removing what is not there changes nothing. */
	make_sid(sid, 1, 0);
	psm_table_remove(&t, sid);
	make_sid(sid, 2, 0);
	psm_table_remove(&t, sid);
	CHECK_EQ(t.count, N / 2);
	for (uint64_t i = 1; i < N; i += 2) {
		make_sid(sid, 1, i);
		psm_table_remove(&t, sid);
	}
	CHECK_EQ(t.count, 0);
	make_sid(sid, 1, 1);
	CHECK(psm_table_find(&t, sid) == NULL, "an emptied table finds nothing");
	psm_table_free(&t);
}

/*
 * Small tables (16 slots, at most 8 items, as the table keeps itself at
 * most half full) of random ids: collisions are common, and so are runs
 * that wrap past the last slot. Each trial removes the start of a run
 * first, when there is a run, then the rest in a random order; after
 * every removal all the others must be found and the removed ones not.
 */
static void
test_probe_runs(void)
{
	enum { TRIALS = 5000, ITEMS = 8 };
	unsigned long run_starts = 0, moved = 0, wrapped = 0;
	uint64_t rng = 42;
	int trial;

	for (trial = 0; trial < TRIALS; trial++) {
		struct psm_table t;
		char sids[ITEMS][PSM_SID_LEN + 1];
		size_t where[ITEMS], order[ITEMS];
		bool gone[ITEMS] = { false };
		bool ok = true;

		psm_table_init(&t, sizeof(struct item));
		for (int k = 0; k < ITEMS; k++) {
			make_sid(sids[k], 3, (uint64_t)trial * ITEMS + (uint64_t)k);
			((struct item *)psm_table_add(&t, sids[k]))->value = (uint64_t)k;
		}
		if (!CHECK_EQ(t.nslots, 16))
			break;
		for (int k = 0; k < ITEMS; k++)
			where[k] = slot_of(&t, psm_table_find(&t, sids[k]));

		/* The order of removal: a shuffle, with a run's first item moved to the front. */
		for (int k = 0; k < ITEMS; k++)
			order[k] = (size_t)k;
		for (int k = ITEMS - 1; k > 0; k--) {
			rng = mix(rng);
			size_t r = (size_t)(rng % (uint64_t)(k + 1)), tmp = order[k];
			order[k] = order[r];
			order[r] = tmp;
		}
		for (int k = 0; k < ITEMS; k++) {
			size_t s = where[order[k]];
			bool prev_empty = t.slots[((s - 1) & (t.nslots - 1)) * t.itemsize] == 0;
			bool next_full = t.slots[((s + 1) & (t.nslots - 1)) * t.itemsize] != 0;
			if (prev_empty && next_full) {
				size_t tmp = order[0];
				order[0] = order[k];
				order[k] = tmp;
				run_starts++;
				break;
			}
		}

		for (int r = 0; r < ITEMS && ok; r++) {
			size_t x = order[r];
			psm_table_remove(&t, sids[x]);
			gone[x] = true;
			ok = CHECK_EQ(t.count, (size_t)(ITEMS - r - 1));
			for (int k = 0; k < ITEMS && ok; k++) {
				struct item *it = psm_table_find(&t, sids[k]);
				if (gone[k]) {
					ok = CHECK(it == NULL, "trial %d: removed %s is found", trial, sids[k]);
					continue;
				}
				ok = CHECK(it != NULL && it->value == (uint64_t)k,
				    "trial %d: %s is lost after removing %s", trial, sids[k], sids[x]);
				if (!ok)
					break;
				size_t now = slot_of(&t, it);
				if (now != where[k]) {
					moved++;
					if (now > where[k])	/* moved back past slot 0 */
						wrapped++;
					where[k] = now;
				}
			}
		}
		psm_table_free(&t);
		if (!ok)
			break;
	}
	if (trial < TRIALS)
		return;
	/* The trials did what they are for (5000 of them make each near-certain). */
	CHECK(run_starts > TRIALS / 4, "only %lu trials removed the start of a run", run_starts);
	CHECK(moved > 0, "no removal moved an item back");
	CHECK(wrapped > 0, "no removal moved an item back across the end of the table");
}

/*
 * At most N items at a time, a million added and removed: the table must
 * stay the size that N items needed, as it leaves nothing behind.
 */
static void
test_bounded(void)
{
	enum { N = 1000, OPS = 1000000 };
	struct psm_table t;
	char sid[PSM_SID_LEN + 1];
	size_t nslots_at_n = 0;

	psm_table_init(&t, sizeof(struct item));
	for (uint64_t i = 0; i < OPS; i++) {
		if (i >= N) {
			make_sid(sid, 4, i - N);
			psm_table_remove(&t, sid);
		}
		make_sid(sid, 4, i);
		psm_table_add(&t, sid);
		if (i + 1 == N)
			nslots_at_n = t.nslots;
		if (i >= N && !CHECK(t.nslots == nslots_at_n && t.count == N,
		    "after %" PRIu64 " adds: %zu slots for %zu items (%zu with %d)",
		    i + 1, t.nslots, t.count, nslots_at_n, N))
			break;
	}
	CHECK(nslots_at_n >= 2 * N && nslots_at_n <= 4 * N, "%zu slots for %d items", nslots_at_n, N);
	/* The last N are all there, the one before is not. */
	for (uint64_t i = OPS - N; i < OPS; i++) {
		make_sid(sid, 4, i);
		if (!CHECK(psm_table_find(&t, sid) != NULL, "item %" PRIu64 " is found", i))
			break;
	}
	make_sid(sid, 4, OPS - N - 1);
	CHECK(psm_table_find(&t, sid) == NULL, "item %d is gone", OPS - N - 1);
	psm_table_free(&t);
}

int
main(void)
{
	test_many();
	test_probe_runs();
	test_bounded();
	return check_done();
}
