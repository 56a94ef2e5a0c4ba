// The block policy, with threads: waiting writers go in ticket order, are failed with an errno or let go by a
// switch to drop, and one waiting when the stop begins still goes in; the closed flag and the announcement of new
// bytes. Run by producer_test.c (the threaded parts under ThreadSanitizer too).
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ring_fixture.h"
#include "tests.h"

static void sleep_ms(long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

typedef struct writer {
  pthread_t thread;
  lf_intake *ix;
  lf_source src;
  uint8_t *bytes;
  size_t len;
  int rc;
} writer;

static void *writer_main(void *arg) {
  writer *w = arg;
  w->rc = lf_intake_write(w->ix, &w->src, w->bytes, w->len, 1);
  return NULL;
}

static void writer_start(writer *w, lf_intake *ix, ring *r, uint32_t id, size_t len, uint8_t fill) {
  w->ix = ix;
  w->src = source_of(r, id);
  w->len = len;
  w->bytes = malloc(len ? len : 1);
  memset(w->bytes, fill, len);
  if (len) w->bytes[len - 1] = '\n';
  w->rc = 12345;
  pthread_create(&w->thread, NULL, writer_main, w);
}

static void writer_join(writer *w) {
  pthread_join(w->thread, NULL);
  free(w->bytes);
}

/** Waits (at most 10 s) until `n` writes wait for space; false when they never did. */
static int await_waiting(ring *r, double n) {
  for (int i = 0; i < 10000; i++) {
    if (ring_stat(r, LF_ST_WAITING) == n) return 1;
    sleep_ms(1);
  }
  failf(__FILE__, __LINE__, "%.0f writers never waited (%.0f do)", n, ring_stat(r, LF_ST_WAITING));
  return 0;
}

static void fill_ring(ring *r, uint32_t id) {
  lf_source f = source_of(r, id);
  uint8_t buf[1000];
  memset(buf, 'F', sizeof buf);
  while (lf_intake_write(&no_intake, &f, buf, sizeof buf, 0) == 0) {}
}

/** A full 4 KiB block ring with `n` writers of `len` bytes waiting for space in it. */
static ring *ring_with_waiters(writer *w, int n, lf_intake *ix, size_t len, uint8_t fill) {
  ring *r = ring_new(4096, LF_BLOCK);
  fill_ring(r, 100);
  for (int i = 0; i < n; i++) {
    writer_start(&w[i], ix, r, (uint32_t) i, len, fill);
    await_waiting(r, i + 1);
  }
  return r;
}

/** Joins `n` writers, checking each one's answer and cursor. */
static void join_all(writer *w, int n, int rc, uint64_t next, const char *rc_what, const char *next_what) {
  for (int i = 0; i < n; i++) {
    writer_join(&w[i]);
    CHECK_EQ(w[i].rc, rc, rc_what);
    CHECK_EQ(w[i].src.next, next, next_what);
  }
}

typedef struct consumer {
  pthread_t thread;
  ring *r;
  size_t want; /* records to consume */
  uint32_t order[64];
  size_t n;
  int bad;
} consumer;

/** The JS side on another thread: reads the oldest record, frees it, wakes writers; one record at a time. */
static void *consumer_main(void *arg) {
  consumer *c = arg;
  ring *r = c->r;
  for (int spins = 0; c->n < c->want && spins < 20000; spins++) {
    uint64_t tail = ring_tail(r), head = ring_head(r);
    if (tail == head) { sleep_ms(1); continue; }
    uint64_t at = tail % r->cap, next = next_record(r, tail);
    if (r->cap - at >= LF_HEADER) {
      uint32_t w[2];
      memcpy(w, r->data + at, sizeof w);
      if (w[1] != LF_PAD) {
        if (c->n < 64) c->order[c->n] = w[1];
        c->n++;
        // A writer's bytes are all its tag, ending in a newline.
        const uint8_t *d = r->data + at + LF_HEADER;
        for (uint32_t i = 0; i + 1 < w[0]; i++) if (d[i] != d[0]) c->bad++;
      }
    }
    sleep_ms(1);
    ring_release(r, next);
  }
  return NULL;
}

void block_ticket_order(void) {
  ring *r = ring_new(4096, LF_BLOCK);
  lf_intake ix = { 0 };
  fill_ring(r, 100);
  CHECK_EQ(ring_head(r) - ring_tail(r), 4096, "four 1000-byte records fill the ring");
  // Arrival order: a large write first (two records, 2048 bytes), then smaller ones that would fit sooner.
  static const size_t lens[] = { 2000, 10, 1000, 500 };
  writer w[4];
  for (int i = 0; i < 4; i++) {
    writer_start(&w[i], &ix, r, (uint32_t) i, lens[i], (uint8_t) ('A' + i));
    await_waiting(r, i + 1);
  }
  CHECK_EQ(ring_stat(r, LF_ST_BLOCKED_WRITES), 4, "blocked writes");
  CHECK_EQ(ring_stat(r, LF_ST_WAITING_BYTES), 2000 + 10 + 1000 + 500, "waiting bytes");
  lf_source probe = source_of(r, 50);
  CHECK_EQ(lf_intake_write(&ix, &probe, (const uint8_t *) "\n", 1, 0), LF_FULL,
    "a write from a thread that may not wait gets LF_FULL");
  CHECK_EQ(ring_stat(r, LF_ST_WAITING), 4, "and does not queue");
  ring_release(r, ring_tail(r) + 1024);
  sleep_ms(20);
  CHECK_EQ(ring_stat(r, LF_ST_WAITING), 4, "1024 bytes free: the 10-byte write would fit, but waits behind the first");
  consumer c = { .r = r, .want = 4 + 5 - 1 };
  pthread_create(&c.thread, NULL, consumer_main, &c);
  pthread_join(c.thread, NULL);
  for (int i = 0; i < 4; i++) {
    writer_join(&w[i]);
    CHECK_EQ(w[i].rc, 0, "every waiting write went in");
    CHECK_EQ(w[i].src.next, lens[i], "its cursor");
  }
  static const uint32_t want[] = { 100, 100, 100, 0, 0, 1, 2, 3 };
  CHECK_EQ(c.n, 8, "records consumed");
  for (size_t i = 0; i < 8 && i < c.n; i++) {
    if (c.order[i] != want[i]) failf(__FILE__, __LINE__, "record %zu is from source %u, want %u", i, c.order[i], want[i]);
  }
  CHECK_EQ(c.bad, 0, "every record holds its writer's bytes");
  CHECK_EQ(ring_stat(r, LF_ST_WAITING), 0, "nobody waits");
  CHECK_EQ(ring_stat(r, LF_ST_WAITING_BYTES), 0, "no waiting bytes");
  CHECK_EQ(ring_stat(r, LF_ST_BLOCKED_WRITES), 4, "blocked writes stay counted");
  CHECK_EQ(ring_stat(r, LF_ST_WRITES), 4 + 1 + 4 + 1, "writes: fill, its refused one, four waiting, the probe");
  CHECK_EQ(ring_stat(r, LF_ST_BYTES_IN), 4000 + 3510, "bytes in");
  CHECK_EQ(ring_stat(r, LF_ST_LINES_IN), 4, "lines in: one per writer");
  ring_free(r);
}

void block_fail_waiting(void) {
  lf_intake ix = { 0 };
  writer w[3];
  ring *r = ring_with_waiters(w, 3, &ix, 100, 'w');
  lf_tenant_fail_waiting(&r->t, EIO);
  join_all(w, 3, -EIO, 0, "a waiting write is answered with the errno", "and moved no cursor");
  CHECK_EQ(ring_stat(r, LF_ST_WAITING), 0, "nobody waits");
  CHECK_EQ(ring_stat(r, LF_ST_WAITING_BYTES), 0, "no waiting bytes");
  // The queue is usable again: a new waiter waits (it is not failed by the old epoch) and a release lets it in.
  writer again;
  writer_start(&again, &ix, r, 7, 100, 'a');
  await_waiting(r, 1);
  sleep_ms(10);
  CHECK_EQ(again.rc, 12345, "a write after the failure waits for space again");
  ring_release(r, ring_tail(r) + 1024);
  writer_join(&again);
  CHECK_EQ(again.rc, 0, "and goes in once space is freed");
  CHECK_EQ(again.src.next, 100, "its cursor");
  lf_source direct = source_of(r, 8);
  CHECK_EQ(lf_intake_write(&ix, &direct, (const uint8_t *) "x\n", 2, 0), 0, "no waiter is left in the way");
  ring_free(r);
}

void block_policy_change(void) {
  lf_intake ix = { 0 };
  writer w[2];
  ring *r = ring_with_waiters(w, 2, &ix, 300, 'd');
  lf_tenant_set_policy(&r->t, LF_DROP);
  join_all(w, 2, 0, 300, "switched to drop: a waiting write is answered 0", "its bytes counted as dropped");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_BYTES), 600, "dropped bytes");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_WRITES), 2, "dropped writes");
  CHECK_EQ(ring_stat(r, LF_ST_WAITING), 0, "nobody waits");
  lf_tenant_set_policy(&r->t, LF_BLOCK);
  lf_source s = source_of(r, 5);
  CHECK_EQ(lf_intake_write(&ix, &s, (const uint8_t *) "x\n", 2, 0), LF_FULL, "block again");
  ring_release(r, ring_head(r));
  CHECK_EQ(lf_intake_write(&ix, &s, (const uint8_t *) "x\n", 2, 0), 0, "and a release lets writes in");
  ring_free(r);
}

static int data_calls;
static void count_data(void *arg) { (void) arg; __atomic_add_fetch(&data_calls, 1, __ATOMIC_RELAXED); }

void block_closed_waiter(void) {
  ring *r = ring_new(4096, LF_BLOCK);
  lf_intake ix = { .on_data = count_data };
  fill_ring(r, 100);
  writer w;
  writer_start(&w, &ix, r, 1, 100, 'c');
  await_waiting(r, 1);
  __atomic_store_n(&ix.closed, 1, __ATOMIC_RELEASE);
  __atomic_store_n(&r->ctl[LF_CTL_ANNOUNCED], 0, __ATOMIC_RELEASE);
  __atomic_store_n(&data_calls, 0, __ATOMIC_RELAXED);
  ring_release(r, ring_tail(r) + 1024);
  writer_join(&w);
  CHECK_EQ(w.rc, 0, "a write that waited before the stop still goes in");
  CHECK_EQ(__atomic_load_n(&data_calls, __ATOMIC_RELAXED), 1, "on_data, from the writer's thread");
  CHECK_EQ(__atomic_load_n(&r->ctl[LF_CTL_ANNOUNCED], __ATOMIC_ACQUIRE), 1, "announced");
  ring_free(r);
}

// --- closed flag, announcements ---

void closed_flag(void) {
  ring *r = ring_new(4096, LF_BLOCK);
  lf_intake ix = { 0 };
  lf_source half = source_of(r, 1), whole = source_of(r, 2), none = source_of(NULL, 3);
  CHECK_EQ(lf_intake_write(&ix, &none, (const uint8_t *) "x\n", 2, 0), -ENOSPC, "a source without a ring");
  CHECK_EQ(lf_intake_write(&ix, &half, (const uint8_t *) "first half, ", 12, 0), 0, "open");
  CHECK_EQ(lf_intake_write(&ix, &whole, (const uint8_t *) "a line\n", 7, 0), 0, "open");
  __atomic_store_n(&ix.closed, 1, __ATOMIC_RELEASE);
  double writes = ring_stat(r, LF_ST_WRITES);
  CHECK_EQ(lf_intake_write(&ix, &whole, (const uint8_t *) "new\n", 4, 0), -EROFS, "closed: a new line is refused");
  CHECK_EQ(ring_stat(r, LF_ST_WRITES), writes, "and not counted as a write");
  CHECK_EQ(whole.next, 7, "nor moves the cursor");
  CHECK_EQ(lf_intake_write(&ix, &half, (const uint8_t *) "more, ", 6, 0), 0, "the started line continues");
  CHECK_EQ(lf_intake_write(&ix, &half, (const uint8_t *) "end\n", 4, 0), 0, "and ends");
  CHECK_EQ(lf_intake_write(&ix, &half, (const uint8_t *) "x", 1, 0), -EROFS, "then that source is refused too");
  CHECK_EQ(half.next, 22, "cursor");
  CHECK_EQ(ring_stat(r, LF_ST_LINES_IN), 2, "lines in");
  ring_free(r);
}

void announce_on_data(void) {
  ring *r = ring_new(4096, LF_BLOCK);
  lf_intake ix = { .on_data = count_data };
  data_calls = 0;
  lf_source s = source_of(r, 1);
  uint8_t buf[1000];
  memset(buf, 'a', sizeof buf);
  CHECK_EQ(lf_intake_write(&ix, &s, buf, 10, 0), 0, "write");
  CHECK_EQ(data_calls, 1, "the first bytes are announced");
  CHECK_EQ(r->ctl[LF_CTL_ANNOUNCED], 1, "the flag is set");
  CHECK_EQ(lf_intake_write(&ix, &s, buf, 10, 0), 0, "write");
  CHECK_EQ(data_calls, 1, "not again while the flag is set");
  __atomic_store_n(&r->ctl[LF_CTL_ANNOUNCED], 0, __ATOMIC_RELEASE); // Ring.clearAnnouncement
  CHECK_EQ(lf_intake_write(&ix, &s, buf, 10, 0), 0, "write");
  CHECK_EQ(data_calls, 2, "after the reader cleared it, announced again");
  while (lf_intake_write(&ix, &s, buf, sizeof buf, 0) == 0) {}
  while (lf_intake_write(&ix, &s, buf, 1, 0) == 0) {}
  __atomic_store_n(&r->ctl[LF_CTL_ANNOUNCED], 0, __ATOMIC_RELEASE);
  CHECK_EQ(lf_intake_write(&ix, &s, buf, 10, 0), LF_FULL, "full");
  CHECK_EQ(data_calls, 2, "a write that did not go in is not announced");
  CHECK_EQ(r->ctl[LF_CTL_ANNOUNCED], 0, "flag");
  ix.closed = 1;
  lf_source whole = source_of(r, 2);
  CHECK_EQ(lf_intake_write(&ix, &whole, buf, 10, 0), -EROFS, "refused");
  CHECK_EQ(data_calls, 2, "a refused write is not announced");
  ix.closed = 0;
  // Drop policy with the ring full: the whole write is dropped, nothing entered the ring.
  lf_tenant_set_policy(&r->t, LF_DROP);
  CHECK_EQ(lf_intake_write(&ix, &s, buf, 10, 0), 0, "dropped");
  CHECK_EQ(data_calls, 2, "a write whose bytes were all dropped does not announce");
  ring_free(r);
}
