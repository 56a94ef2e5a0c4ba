// The ring fixture of ring_fixture.h: a ring whose reader side does what lib/ring/records.ts does, checking what
// JavaScript relies on as it reads.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ring_fixture.h"

ring *ring_new(uint64_t cap, int policy) {
  ring *r = calloc(1, sizeof *r);
  r->data = aligned_alloc(8, cap);
  // Poisoned, so a reader that trusted bytes the producer never wrote would see garbage.
  memset(r->data, 0xa5, cap);
  r->cap = cap;
  lf_tenant_init(&r->t, r->data, cap, r->ctl, policy);
  return r;
}

void ring_free(ring *r) {
  lf_tenant_destroy(&r->t);
  free(r->data);
  free(r);
}

uint64_t ring_head(ring *r) { return (uint64_t) __atomic_load_n(&r->ctl[LF_CTL_HEAD], __ATOMIC_ACQUIRE); }
uint64_t ring_tail(ring *r) { return (uint64_t) __atomic_load_n(&r->ctl[LF_CTL_TAIL], __ATOMIC_ACQUIRE); }

/** What Ring.release does, then Intake.release: store the tail, wake writers waiting for space. */
void ring_release(ring *r, uint64_t pos) {
  __atomic_store_n(&r->ctl[LF_CTL_TAIL], (int64_t) pos, __ATOMIC_RELEASE);
  lf_tenant_wake(&r->t);
}

/** A counter, read under the tenant's lock (the producer updates them under it). */
double ring_stat(ring *r, int which) {
  pthread_mutex_lock(&r->t.mu);
  double v = r->t.stats[which];
  pthread_mutex_unlock(&r->t.mu);
  return v;
}

uint64_t align8(uint64_t n) { return (n + 7) & ~(uint64_t) 7; }

/** records.ts nextRecord: the position just past the record (or skip, or pad) at `pos`. */
uint64_t next_record(const ring *r, uint64_t pos) {
  uint64_t at = pos % r->cap, room = r->cap - at;
  if (room < LF_HEADER) return pos + room;
  uint32_t w[2];
  memcpy(w, r->data + at, sizeof w);
  if (w[1] == LF_PAD) return pos + room;
  return pos + align8(LF_HEADER + w[0]);
}

void recs_clear(recs *rs) {
  for (size_t i = 0; i < rs->n; i++) free(rs->v[i].data);
  free(rs->v);
  memset(rs, 0, sizeof *rs);
}

/**
 * records.ts readRecords: appends the records of [start, end) to `out` (copied), counting skips and pads. Checks
 * what JS relies on: the range is live, no record crosses the end of the buffer or the end of the range.
 */
int read_records(ring *r, uint64_t start, uint64_t end, recs *out) {
  uint64_t head = ring_head(r), tail = ring_tail(r);
  if (start < tail || end > head || start > end) {
    failf(__FILE__, __LINE__, "range [%llu, %llu) is not inside the live range [%llu, %llu)",
      (unsigned long long) start, (unsigned long long) end, (unsigned long long) tail, (unsigned long long) head);
    return -1;
  }
  for (uint64_t pos = start; pos < end;) {
    uint64_t at = pos % r->cap, room = r->cap - at;
    uint64_t next = next_record(r, pos);
    if (next > end) {
      failf(__FILE__, __LINE__, "record at %llu ends at %llu, past the range end %llu", (unsigned long long) pos,
        (unsigned long long) next, (unsigned long long) end);
      return -1;
    }
    if (room < LF_HEADER) {
      out->skips++;
    } else {
      uint32_t w[2];
      double f[2];
      memcpy(w, r->data + at, sizeof w);
      memcpy(f, r->data + at + 8, sizeof f);
      if (w[1] == LF_PAD) {
        out->pads++;
        if (LF_HEADER + (uint64_t) w[0] != room) failf(__FILE__, __LINE__, "a PAD record must cover the rest of the buffer");
      } else {
        if (at + LF_HEADER + w[0] > r->cap) {
          failf(__FILE__, __LINE__, "record at %llu wraps", (unsigned long long) pos);
          return -1;
        }
        if (out->n == out->cap) {
          out->cap = out->cap ? out->cap * 2 : 64;
          out->v = realloc(out->v, out->cap * sizeof *out->v);
        }
        rec *x = &out->v[out->n++];
        x->pos = pos;
        x->source = w[1];
        x->len = w[0];
        x->offset = f[0];
        x->ts = f[1];
        x->data = malloc(w[0] ? w[0] : 1);
        memcpy(x->data, r->data + at + LF_HEADER, w[0]);
      }
    }
    pos = next;
  }
  return 0;
}

/** The byte at cursor offset `o` of the test streams: newlines now and then, so lines are counted too. */
uint8_t pattern(uint64_t o) { return (uint8_t) ((o * 7 + o / 13) % 251); }

void fill_pattern(uint8_t *buf, uint64_t from, size_t n) {
  for (size_t i = 0; i < n; i++) buf[i] = pattern(from + i);
}

uint64_t count_nl(const uint8_t *b, size_t n) {
  uint64_t c = 0;
  for (size_t i = 0; i < n; i++) c += b[i] == '\n';
  return c;
}

lf_source source_of(ring *r, uint32_t id) {
  lf_source s = { .tenant = r ? &r->t : NULL, .id = id, .line_ended = 1 };
  return s;
}

lf_intake no_intake;
