// Records as the producer lays them in a ring and JavaScript reads them back: a round trip with wrap-around and
// PAD records, a write split into several records, the 16-byte skip, the exact fit, and a write no ring can hold.
// Run by producer_test.c.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ring_fixture.h"
#include "tests.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

/** Bytes of ring a write of `len` takes at the current head, skips and pads included (the old Ring.endAfter). */
static uint64_t need(ring *r, uint64_t len) {
  uint64_t max = lf_max_record_data(&r->t), head = ring_head(r), pos = head;
  for (uint64_t at = 0; at < len; at += max) {
    uint64_t size = align8(LF_HEADER + (len - at < max ? len - at : max));
    uint64_t room = r->cap - pos % r->cap;
    pos += room < size ? room + size : size;
  }
  return pos - head;
}

void records_round_trip(void) {
  const uint64_t cap = 64 * 1024;
  ring *r = ring_new(cap, LF_BLOCK);
  lf_source s = source_of(r, 3);
  uint8_t *buf = malloc(cap);
  uint64_t expect_offset = 0, newlines = 0, written = 0;
  size_t pads = 0, skips = 0;
  double t0 = now_ms() - 1;
  for (int round = 0; round < 60; round++) {
    uint64_t start = ring_tail(r);
    size_t sizes[256], n = 0;
    for (;;) {
      size_t size = 1 + (size_t) ((round * 7919u + n * 104729u) % 9000u);
      fill_pattern(buf, s.next, size);
      uint64_t before = s.next;
      int rc = lf_intake_write(&no_intake, &s, buf, size, 0);
      if (rc == LF_FULL) {
        CHECK_EQ(s.next, before, "a write that did not fit moves no cursor");
        uint64_t free = cap - (ring_head(r) - ring_tail(r));
        CHECK(need(r, size) > free, "round %d: a write of %zu (%llu bytes of ring) was refused with %llu free", round,
          size, (unsigned long long) need(r, size), (unsigned long long) free);
        break;
      }
      CHECK_EQ(rc, 0, "write");
      if (rc != 0 || n == 256) break;
      sizes[n++] = size;
      newlines += count_nl(buf, size);
      written += size;
    }
    CHECK(n > 0, "round %d wrote nothing", round);
    recs rs = { 0 };
    uint64_t end = ring_head(r);
    if (read_records(r, start, end, &rs) != 0) { recs_clear(&rs); break; }
    CHECK_EQ(rs.n, n, "one record per write (all smaller than the largest record)");
    double t1 = now_ms() + 1;
    for (size_t i = 0; i < rs.n && i < n; i++) {
      rec *x = &rs.v[i];
      uint8_t *want = malloc(x->len ? x->len : 1);
      fill_pattern(want, (uint64_t) x->offset, x->len);
      if (x->source != 3 || x->offset != (double) expect_offset || x->len != sizes[i] ||
          memcmp(x->data, want, x->len) != 0 || x->ts < t0 || x->ts > t1) {
        failf(__FILE__, __LINE__, "round %d: record %zu (pos %llu) is wrong: source %u offset %.0f len %u", round, i,
          (unsigned long long) x->pos, x->source, x->offset, x->len);
      }
      free(want);
      expect_offset += x->len;
    }
    pads += rs.pads;
    skips += rs.skips;
    recs_clear(&rs);
    ring_release(r, end);
  }
  CHECK_EQ(expect_offset, written, "every byte read back exactly once, in order");
  CHECK_EQ(s.next, written, "the cursor");
  CHECK(pads > 0, "the rounds wrapped with a PAD record at least once");
  CHECK_EQ(ring_stat(r, LF_ST_BYTES_IN), written, "bytes in");
  CHECK_EQ(ring_stat(r, LF_ST_LINES_IN), newlines, "lines in: the newlines of accepted bytes");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_BYTES), 0, "nothing dropped under block");
  CHECK_EQ(ring_stat(r, LF_ST_BLOCKED_WRITES), 0, "a write that may not wait is not counted as blocked");

  // A write larger than the largest record goes in as several, at consecutive cursors.
  uint64_t max = lf_max_record_data(&r->t);
  CHECK_EQ(max, cap / 4 - LF_HEADER, "largest record");
  size_t big = (size_t) (2 * max + 100);
  fill_pattern(buf, s.next, big);
  uint64_t start = ring_head(r), first = s.next;
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, big, 0), 0, "a large write");
  recs rs = { 0 };
  if (read_records(r, start, ring_head(r), &rs) == 0) {
    CHECK_EQ(rs.n, 3, "records of a large write");
    uint64_t at = first;
    for (size_t i = 0; i < rs.n; i++) {
      CHECK_EQ(rs.v[i].offset, at, "piece offset");
      CHECK_MEM(rs.v[i].data, buf + (at - first), rs.v[i].len, "piece bytes");
      at += rs.v[i].len;
    }
    CHECK_EQ(at, first + big, "the pieces cover the write");
    if (rs.n == 3) CHECK_EQ(rs.v[0].len, max, "the first piece is a whole record");
  }
  recs_clear(&rs);
  free(buf);
  ring_free(r);
}

void records_skip_and_pad(void) {
  // 4 KiB ring: the largest record holds 1000 bytes and takes 1024.
  ring *r = ring_new(4096, LF_BLOCK);
  lf_source s = source_of(r, 1);
  uint8_t buf[4096];
  memset(buf, 'x', sizeof buf);
  for (int i = 0; i < 3; i++) CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 1000, 0), 0, "1000 bytes");
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 984, 0), 0, "984 bytes: 1008 of ring");
  CHECK_EQ(ring_head(r), 4080, "16 bytes before the end: too few for a header");
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 8, 0), LF_FULL, "a record that needs the 16-byte skip does not fit");
  ring_release(r, 4080);
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 100, 0), 0, "after a release");
  CHECK_EQ(ring_head(r), 4096 + 128, "the record skipped the 16 bytes and went to the start");
  recs rs = { 0 };
  read_records(r, 4080, ring_head(r), &rs);
  CHECK_EQ(rs.skips, 1, "the reader skips the same 16 bytes");
  CHECK_EQ(rs.n, 1, "records");
  if (rs.n == 1) {
    CHECK_EQ(rs.v[0].pos, 4096, "position");
    CHECK_EQ(rs.v[0].offset, 3 * 1000 + 984, "cursor");
  }
  CHECK_EQ(next_record(r, 4080), 4096, "nextRecord of a skip");
  recs_clear(&rs);

  // Header fits, data does not: a PAD record to the end, counted against free space.
  ring_release(r, ring_head(r));
  for (int i = 0; i < 3; i++) CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 1000, 0), 0, "1000 bytes");
  uint64_t pad_at = ring_head(r);
  CHECK_EQ(pad_at % 4096, 3200, "896 bytes before the end");
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 1000, 0), LF_FULL,
    "1024 bytes free, but the record needs the 896-byte pad too");
  ring_release(r, pad_at);
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 1000, 0), 0, "with the ring empty it fits");
  uint32_t w[2];
  memcpy(w, r->data + pad_at % 4096, sizeof w);
  CHECK_EQ(w[1], LF_PAD, "a PAD record");
  CHECK_EQ(w[0], 896 - LF_HEADER, "whose length covers the rest of the buffer");
  CHECK_EQ(ring_head(r), pad_at + 896 + 1024, "head after pad and record");
  read_records(r, pad_at, ring_head(r), &rs);
  CHECK_EQ(rs.pads, 1, "the reader skips the pad");
  CHECK_EQ(rs.n, 1, "and finds one record");
  if (rs.n == 1) CHECK_EQ(rs.v[0].pos % 4096, 0, "at the start of the buffer");
  recs_clear(&rs);

  // An exact fit: four largest records fill an empty, aligned ring to the last byte.
  ring_release(r, ring_head(r));
  CHECK_EQ(ring_head(r) % 1024, 0, "on a 1024-byte boundary");
  for (int i = 0; i < 4; i++) CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 1000, 0), 0, "exact fit");
  CHECK_EQ(ring_head(r) - ring_tail(r), 4096, "full to the last byte");
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 1, 0), LF_FULL, "nothing more");
  uint64_t before = ring_head(r);
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 0, 0), 0, "an empty write is taken");
  CHECK_EQ(ring_head(r), before, "and adds no record");

  // A write the ring can never hold, however empty.
  ring_release(r, ring_head(r));
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 4096, LF_WAIT), -EFBIG, "a write the empty ring cannot hold is "
    "refused at once, not left waiting");
  CHECK_EQ(lf_intake_write(&no_intake, &s, buf, 1000, LF_WAIT), 0, "and the next write goes in");
  ring_free(r);
}
