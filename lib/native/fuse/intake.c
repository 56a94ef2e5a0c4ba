// The ring producer (see intake.h). A C port of what lib/ring/intake.ts did on the JS thread, so that a write is
// answered on the FUSE thread that received it.
#include "intake.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define NL '\n'

static uint64_t align8(uint64_t n) { return (n + 7) & ~(uint64_t) 7; }

static uint64_t tail_of(const lf_tenant *t) {
  return (uint64_t) __atomic_load_n(&t->ctl[LF_CTL_TAIL], __ATOMIC_ACQUIRE);
}

static uint64_t free_bytes(const lf_tenant *t) { return t->capacity - (t->head - tail_of(t)); }

/** Bytes the ring holds, as the budget counts them. */
static int64_t held(const lf_tenant *t) { return (int64_t) (t->head - tail_of(t)); }

uint64_t lf_max_record_data(const lf_tenant *t) { return t->capacity / 4 - LF_HEADER; }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double) ts.tv_sec * 1000.0 + (double) (ts.tv_nsec / 1000000);
}

void lf_tenant_init(lf_tenant *t, uint8_t *data, uint64_t capacity, int64_t *ctl, int policy) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->space, NULL);
  t->data = data;
  t->capacity = capacity;
  t->ctl = ctl;
  t->loan.borrowed = &ctl[LF_CTL_BORROWED];
  t->stats = (double *) (ctl + LF_CTL_SLOTS);
  t->policy = policy;
  t->head = (uint64_t) __atomic_load_n(&ctl[LF_CTL_HEAD], __ATOMIC_ACQUIRE);
}

void lf_tenant_destroy(lf_tenant *t) {
  pthread_cond_destroy(&t->space);
  pthread_mutex_destroy(&t->mu);
}

/** Where the head would be after a record of `length` data bytes written at `pos` (skip and pad included). */
static uint64_t end_after(const lf_tenant *t, uint64_t pos, uint64_t length) {
  uint64_t size = align8(LF_HEADER + length);
  uint64_t room = t->capacity - pos % t->capacity;
  return pos + (room < size ? room + size : size);
}

/** Writes one record at the head; the caller has checked that it fits. */
static void put_record(lf_tenant *t, uint32_t source, uint64_t offset, double ts, const uint8_t *bytes, uint64_t n) {
  uint64_t size = align8(LF_HEADER + n);
  uint64_t at = t->head % t->capacity;
  uint64_t room = t->capacity - at;
  if (room < size) {
    if (room >= LF_HEADER) {
      uint32_t pad[2] = { (uint32_t) (room - LF_HEADER), LF_PAD };
      memcpy(t->data + at, pad, sizeof pad);
    }
    t->head += room;
    at = 0;
  }
  uint32_t head32[2] = { (uint32_t) n, source };
  double headf[2] = { (double) offset, ts };
  memcpy(t->data + at, head32, sizeof head32);
  memcpy(t->data + at + 8, headf, sizeof headf);
  memcpy(t->data + at + LF_HEADER, bytes, n);
  t->head += size;
}

/** Ring bytes a write of `len` takes at the head: its records, and the skip or pad before any that would wrap. */
static uint64_t need(const lf_tenant *t, uint64_t len) {
  uint64_t max = lf_max_record_data(t);
  uint64_t end = t->head;
  for (uint64_t at = 0; at < len; at += max) end = end_after(t, end, len - at < max ? len - at : max);
  return end - t->head;
}

__thread uint64_t *lf_intake_mark;

/** Copies a write into the ring if it fits with `reserve` bytes to spare; returns whether it did. */
static int accept(lf_tenant *t, lf_source *s, const uint8_t *bytes, uint64_t len, uint64_t reserve) {
  uint64_t max = lf_max_record_data(t);
  uint64_t n = need(t, len);
  if (n + reserve > free_bytes(t) || !lf_budget_take(&t->loan, held(t), n, reserve)) return 0;
  if (lf_intake_mark != NULL) *lf_intake_mark = s->next;
  double ts = now_ms();
  uint64_t next = s->next;
  for (uint64_t at = 0; at < len; at += max) {
    uint64_t n = len - at < max ? len - at : max;
    put_record(t, s->id, next, ts, bytes + at, n);
    next += n;
  }
  // The head is published before the cursor moves: an agent killed in between leaves records past the cursor,
  // which the next one finds (lf_state_recover); the other order would leave a cursor past bytes never written.
  __atomic_store_n(&t->ctl[LF_CTL_HEAD], (int64_t) t->head, __ATOMIC_RELEASE);
  s->next = next;
  if (len > 0) {
    uint64_t last = len - 1;
    s->line_ended = bytes[last] == NL;
    // The last byte was just looked at: count from there and search only before it, which spares most writes
    // (one line, newline-terminated) a second search that finds nothing.
    double lines = s->line_ended ? 1 : 0;
    for (const uint8_t *p = bytes, *stop = bytes + last; p < stop; p++) {
      p = memchr(p, NL, (size_t) (stop - p));
      if (p == NULL) break;
      lines++;
    }
    t->stats[LF_ST_LINES_IN] += lines;
  }
  t->stats[LF_ST_BYTES_IN] += (double) len;
  return 1;
}

static void drop(lf_tenant *t, lf_source *s, uint64_t len) {
  s->next += len;
  t->stats[LF_ST_DROPPED_BYTES] += (double) len;
}

static uint64_t line_end(const uint8_t *bytes, uint64_t len) {
  const uint8_t *nl = memchr(bytes, NL, len);
  return nl == NULL ? len : (uint64_t) (nl - bytes) + 1;
}

/**
 * The drop policy, line by line: the kernel may split one write() into several requests, so a full ring could
 * cut a line in two. A reserve at the end of the ring lets a started line finish, and after a drop the rest of
 * the cut line is dropped too, so what arrives is whole lines and the cursor gap is exactly what was dropped.
 */
static void accept_or_drop(lf_tenant *t, lf_source *s, const uint8_t *bytes, uint64_t len) {
  if (s->skipping) {
    const uint8_t *nl = memchr(bytes, NL, len);
    if (nl == NULL) return drop(t, s, len);
    uint64_t cut = (uint64_t) (nl - bytes) + 1;
    drop(t, s, cut);
    s->skipping = 0;
    s->line_ended = 1;
    bytes += cut;
    len -= cut;
    if (len == 0) return;
  }
  if (accept(t, s, bytes, len, t->capacity >> 4)) return;
  if (!s->line_ended) {
    uint64_t rest = line_end(bytes, len);
    if (accept(t, s, bytes, rest, 0)) { bytes += rest; len -= rest; }
    if (len == 0) return;
  }
  drop(t, s, len);
  // The stream is at a line boundary exactly when the dropped bytes end a line, whatever was accepted before.
  s->line_ended = bytes[len - 1] == NL;
  s->skipping = !s->line_ended;
}

static void write_or_drop(lf_tenant *t, lf_source *s, const uint8_t *bytes, uint64_t len) {
  double before = t->stats[LF_ST_DROPPED_BYTES];
  accept_or_drop(t, s, bytes, len);
  // One write counts once, however many pieces of it were dropped.
  if (t->stats[LF_ST_DROPPED_BYTES] > before) t->stats[LF_ST_DROPPED_WRITES]++;
}

/** True when this call turned the tenant's "announced" flag on: the reader must be told once. */
static int announce(lf_tenant *t) {
  return __atomic_exchange_n(&t->ctl[LF_CTL_ANNOUNCED], 1, __ATOMIC_ACQ_REL) == 0;
}

int lf_intake_write(lf_intake *ix, lf_source *s, const uint8_t *bytes, size_t len, int flags) {
  lf_tenant *t = s->tenant;
  if (t == NULL) return -ENOSPC;
  int rc = 0;
  pthread_mutex_lock(&t->mu);
  uint64_t head = t->head;
  // After a stop began, a write that continues an unfinished line still goes in: the kernel splits a write()
  // that crosses a page into two requests, and refusing the second would store half a line the application
  // was told (by a short write) it had written.
  if (!(flags & LF_FORCE) && __atomic_load_n(&ix->closed, __ATOMIC_ACQUIRE) && s->line_ended) {
    pthread_mutex_unlock(&t->mu);
    return -EROFS;
  }
  t->stats[LF_ST_WRITES]++;
  if (t->policy == LF_DROP) {
    write_or_drop(t, s, bytes, len);
  } else if (t->ticket_next == t->ticket_serve && accept(t, s, bytes, len, 0)) {
    rc = 0;
  } else if (need(t, len) > t->capacity) {
    // Checked only for a write that does not fit now: one that could not fit even in the empty ring would wait
    // forever, and every later write of the tenant behind it. From the mount this never happens (requests are
    // at most 128 KiB, rings at least 1 MiB).
    rc = -EFBIG;
  } else if (!(flags & LF_WAIT)) {
    rc = LF_FULL;
  } else {
    uint64_t ticket = t->ticket_next++;
    uint64_t epoch = t->fail_epoch;
    t->stats[LF_ST_BLOCKED_WRITES]++;
    t->stats[LF_ST_WAITING]++;
    t->stats[LF_ST_WAITING_BYTES] += (double) len;
    lf_budget_waiting(&t->loan, 1);
    for (;;) {
      if (t->fail_epoch != epoch) { rc = -t->fail_errno; break; }
      if (t->policy == LF_DROP) { write_or_drop(t, s, bytes, len); break; }
      // A ticket below ticket_serve was let go by a policy change or a failure; it tries in any order.
      if (ticket <= t->ticket_serve && accept(t, s, bytes, len, 0)) {
        if (ticket == t->ticket_serve) t->ticket_serve++;
        break;
      }
      pthread_cond_wait(&t->space, &t->mu);
    }
    lf_budget_waiting(&t->loan, -1);
    t->stats[LF_ST_WAITING]--;
    t->stats[LF_ST_WAITING_BYTES] -= (double) len;
    // The next ticket may fit in what is left.
    pthread_cond_broadcast(&t->space);
  }
  // Only bytes in the ring are news: a write dropped whole, or an empty one, wakes nobody.
  int tell = t->head != head && announce(t);
  pthread_mutex_unlock(&t->mu);
  if (tell && ix->on_data) ix->on_data(ix->on_data_arg);
  return rc;
}

void lf_tenant_set_policy(lf_tenant *t, int policy) {
  pthread_mutex_lock(&t->mu);
  t->policy = policy;
  if (policy == LF_DROP) t->ticket_serve = t->ticket_next;
  pthread_cond_broadcast(&t->space);
  pthread_mutex_unlock(&t->mu);
}

int lf_tenant_wake(lf_tenant *t) {
  pthread_mutex_lock(&t->mu);
  int others = lf_budget_settle(&t->loan, held(t));
  pthread_cond_broadcast(&t->space);
  pthread_mutex_unlock(&t->mu);
  return others;
}

void lf_tenant_fail_waiting(lf_tenant *t, int errno_) {
  pthread_mutex_lock(&t->mu);
  t->fail_epoch++;
  t->fail_errno = errno_;
  t->ticket_serve = t->ticket_next;
  pthread_cond_broadcast(&t->space);
  pthread_mutex_unlock(&t->mu);
}

void lf_tenants_recount(lf_budget *b, uint64_t memory, lf_tenant *const *tenants, uint32_t n_tenants) {
  lf_budget_reset(b, memory);
  for (uint32_t i = 0; i < n_tenants; i++) lf_budget_recount(b, &tenants[i]->loan, held(tenants[i]));
}
