// The ring producer, the tail buffer, the file table, writeback's stop and the takeover state on their own: plain C
// and pthreads, linked with writeback_test.c, budget_test.c, lib/native/fuse/intake.c, budget.c, tail.c, files.c,
// writeback.c and state.c, and the store's lib/store/tokenizer/tokens.c (no N-API, no libfuse).
// test/native.test.ts builds and runs it under AddressSanitizer + UBSan, and its threaded "block" part under
// ThreadSanitizer:
//
//   cc -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=address,undefined -pthread -Ilib/native/fuse -Ilib/store/tokenizer
//     test/native/{producer,writeback,budget}_test.c lib/native/fuse/{intake,budget,tail,files,writeback,state}.c
//     lib/store/tokenizer/tokens.c
//   ./a.out [name-prefix...]
//
// Prints TAP (a line per test, "1..N" at the end) and exits 1 when a test failed.
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "files.h"
#include "intake.h"
#include "state.h"
#include "tail.h"
#include "tokens.h"

// --- a small TAP harness ---

static int n_tests, n_failed;
static int cur_failed;
static const char *cur_name;

void failf(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  cur_failed++;
  printf("#   FAIL %s:%d (%s): ", file, line, cur_name);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
}

static int selected(int argc, char **argv, const char *name) {
  if (argc < 2) return 1;
  for (int i = 1; i < argc; i++) if (strncmp(name, argv[i], strlen(argv[i])) == 0) return 1;
  return 0;
}

#define RUN(name, fn) \
  do { \
    if (!selected(argc, argv, name)) break; \
    cur_name = name; \
    cur_failed = 0; \
    fn(); \
    n_tests++; \
    if (cur_failed) n_failed++; \
    printf("%s %d - %s\n", cur_failed ? "not ok" : "ok", n_tests, name); \
    fflush(stdout); \
  } while (0)

static void sleep_ms(long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

// --- a ring as JavaScript has it: data, control block, and the reader side of lib/ring/records.ts ---

typedef struct ring {
  uint8_t *data;
  uint64_t cap;
  int64_t ctl[LF_CONTROL_BYTES / 8];
  lf_tenant t;
} ring;

static ring *ring_new(uint64_t cap, int policy) {
  ring *r = calloc(1, sizeof *r);
  r->data = aligned_alloc(8, cap);
  // Poisoned, so a reader that trusted bytes the producer never wrote would see garbage.
  memset(r->data, 0xa5, cap);
  r->cap = cap;
  lf_tenant_init(&r->t, r->data, cap, r->ctl, policy);
  return r;
}

static void ring_free(ring *r) {
  lf_tenant_destroy(&r->t);
  free(r->data);
  free(r);
}

static uint64_t ring_head(ring *r) { return (uint64_t) __atomic_load_n(&r->ctl[LF_CTL_HEAD], __ATOMIC_ACQUIRE); }
static uint64_t ring_tail(ring *r) { return (uint64_t) __atomic_load_n(&r->ctl[LF_CTL_TAIL], __ATOMIC_ACQUIRE); }

/** What Ring.release does, then Intake.release: store the tail, wake writers waiting for space. */
static void ring_release(ring *r, uint64_t pos) {
  __atomic_store_n(&r->ctl[LF_CTL_TAIL], (int64_t) pos, __ATOMIC_RELEASE);
  lf_tenant_wake(&r->t);
}

/** A counter, read under the tenant's lock (the producer updates them under it). */
static double stat(ring *r, int which) {
  pthread_mutex_lock(&r->t.mu);
  double v = r->t.stats[which];
  pthread_mutex_unlock(&r->t.mu);
  return v;
}

static uint64_t align8(uint64_t n) { return (n + 7) & ~(uint64_t) 7; }

/** records.ts nextRecord: the position just past the record (or skip, or pad) at `pos`. */
static uint64_t next_record(const ring *r, uint64_t pos) {
  uint64_t at = pos % r->cap, room = r->cap - at;
  if (room < LF_HEADER) return pos + room;
  uint32_t w[2];
  memcpy(w, r->data + at, sizeof w);
  if (w[1] == LF_PAD) return pos + room;
  return pos + align8(LF_HEADER + w[0]);
}

typedef struct rec {
  uint64_t pos;
  uint32_t source;
  double offset, ts;
  uint8_t *data; /* a copy */
  uint32_t len;
} rec;

typedef struct recs {
  rec *v;
  size_t n, cap;
  size_t pads, skips;
} recs;

static void recs_clear(recs *rs) {
  for (size_t i = 0; i < rs->n; i++) free(rs->v[i].data);
  free(rs->v);
  memset(rs, 0, sizeof *rs);
}

/**
 * records.ts readRecords: appends the records of [start, end) to `out` (copied), counting skips and pads. Checks
 * what JS relies on: the range is live, no record crosses the end of the buffer or the end of the range.
 */
static int read_records(ring *r, uint64_t start, uint64_t end, recs *out) {
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
static uint8_t pattern(uint64_t o) { return (uint8_t) ((o * 7 + o / 13) % 251); }

static void fill_pattern(uint8_t *buf, uint64_t from, size_t n) {
  for (size_t i = 0; i < n; i++) buf[i] = pattern(from + i);
}

static uint64_t count_nl(const uint8_t *b, size_t n) {
  uint64_t c = 0;
  for (size_t i = 0; i < n; i++) c += b[i] == '\n';
  return c;
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

static lf_source source_of(ring *r, uint32_t id) {
  lf_source s = { .tenant = r ? &r->t : NULL, .id = id, .line_ended = 1 };
  return s;
}

static lf_intake no_intake; /* open, no on_data */

// --- records ---

static void records_round_trip(void) {
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
  CHECK_EQ(stat(r, LF_ST_BYTES_IN), written, "bytes in");
  CHECK_EQ(stat(r, LF_ST_LINES_IN), newlines, "lines in: the newlines of accepted bytes");
  CHECK_EQ(stat(r, LF_ST_DROPPED_BYTES), 0, "nothing dropped under block");
  CHECK_EQ(stat(r, LF_ST_BLOCKED_WRITES), 0, "a write that may not wait is not counted as blocked");

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

static void records_skip_and_pad(void) {
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

// --- drop policy ---

/** Appends a copy of the records in [tail, pos) and frees them, as the shipper does on an acknowledgement. */
static void consume_to(ring *r, uint64_t pos, recs *kept) {
  read_records(r, ring_tail(r), pos, kept);
  ring_release(r, pos);
}

static void consume_all(ring *r, recs *kept) { consume_to(r, ring_head(r), kept); }

static void drop_line_cutting(void) {
  // 4 KiB ring, reserve 256 bytes; a 100-byte line takes 128.
  ring *r = ring_new(4096, LF_DROP);
  lf_source s = source_of(r, 1);
  recs kept = { 0 };
  uint8_t line[100];
  memset(line, 'l', sizeof line);
  line[99] = '\n';
  int accepted = 0;
  while (stat(r, LF_ST_DROPPED_BYTES) == 0 && accepted < 100) {
    CHECK_EQ(lf_intake_write(&no_intake, &s, line, sizeof line, 0), 0, "drop answers 0");
    if (stat(r, LF_ST_DROPPED_BYTES) == 0) accepted++;
  }
  CHECK_EQ(accepted, (4096 - 256) / 128, "new lines stop short of the reserve");
  CHECK_EQ(stat(r, LF_ST_DROPPED_BYTES), 100, "the line that did not fit");
  CHECK_EQ(stat(r, LF_ST_DROPPED_WRITES), 1, "dropped writes");
  CHECK_EQ(s.next, (accepted + 1) * 100, "the cursor counts the dropped line");
  CHECK(!s.skipping && s.line_ended, "a whole dropped line leaves nothing to skip");

  // A started line may finish in the reserve; the rest of that write is dropped.
  consume_to(r, ring_tail(r) + 2 * 128, &kept); // 512 free
  uint8_t start[50], rest[250];
  memset(start, 's', sizeof start);
  memset(rest, 'r', sizeof rest);
  rest[49] = '\n';
  rest[149] = '\n';
  rest[249] = '\n';
  CHECK_EQ(lf_intake_write(&no_intake, &s, start, sizeof start, 0), 0, "a line starts (80 + 256 <= 512)");
  CHECK(!s.line_ended, "unfinished");
  double in = stat(r, LF_ST_BYTES_IN);
  CHECK_EQ(lf_intake_write(&no_intake, &s, rest, sizeof rest, 0), 0, "its end and two more lines (280 + 256 > 432)");
  CHECK_EQ(stat(r, LF_ST_BYTES_IN) - in, 50, "the end of the started line went in");
  CHECK_EQ(stat(r, LF_ST_DROPPED_BYTES), 100 + 200, "the two new lines were dropped");
  CHECK_EQ(stat(r, LF_ST_DROPPED_WRITES), 2, "dropped writes");
  CHECK(!s.skipping, "the write ended with a newline: nothing to skip");

  // A new line that does not fit is dropped with everything up to its newline, in later writes too.
  uint8_t part[100];
  memset(part, 'p', sizeof part);
  CHECK_EQ(lf_intake_write(&no_intake, &s, part, sizeof part, 0), 0, "the start of a line (128 + 256 > 352)");
  CHECK(s.skipping, "its rest will be dropped");
  CHECK_EQ(lf_intake_write(&no_intake, &s, part, 30, 0), 0, "more of it, no newline");
  CHECK_EQ(stat(r, LF_ST_DROPPED_WRITES), 4, "each of those writes counts once");
  consume_all(r, &kept);
  const char *tail = "end of the dropped line\nnext line\n";
  in = stat(r, LF_ST_BYTES_IN);
  double dropped = stat(r, LF_ST_DROPPED_BYTES);
  CHECK_EQ(lf_intake_write(&no_intake, &s, (const uint8_t *) tail, strlen(tail), 0), 0, "with room again");
  CHECK_EQ(stat(r, LF_ST_DROPPED_BYTES) - dropped, strlen("end of the dropped line\n"), "the rest of the cut line");
  CHECK_EQ(stat(r, LF_ST_BYTES_IN) - in, strlen("next line\n"), "the next line goes in");
  CHECK_EQ(stat(r, LF_ST_DROPPED_WRITES), 5, "dropped writes");
  CHECK(!s.skipping && s.line_ended, "back to whole lines");
  consume_all(r, &kept);
  if (kept.n > 0) {
    rec *last = &kept.v[kept.n - 1];
    CHECK(last->len == 10 && memcmp(last->data, "next line\n", 10) == 0, "the last record is the next line");
    CHECK_EQ(last->offset, s.next - 10, "at its cursor");
  }
  // Cursor gaps are exactly the dropped bytes, and each gap starts and ends at a line boundary.
  uint64_t end = 0, gaps = 0, in_bytes = 0, broken = 0;
  const uint8_t *prev = NULL;
  for (size_t i = 0; i < kept.n; i++) {
    rec *x = &kept.v[i];
    if ((uint64_t) x->offset != end) {
      gaps += (uint64_t) x->offset - end;
      if (prev != NULL && prev[-1] != '\n') broken++;
    }
    end = (uint64_t) x->offset + x->len;
    in_bytes += x->len;
    prev = x->data + x->len;
  }
  CHECK_EQ(gaps + (s.next - end), stat(r, LF_ST_DROPPED_BYTES), "gaps add up to the dropped bytes");
  CHECK_EQ(in_bytes, stat(r, LF_ST_BYTES_IN), "the records hold the bytes in");
  CHECK_EQ(broken, 0, "no gap cuts a line that went in");
  CHECK_EQ(stat(r, LF_ST_BLOCKED_WRITES), 0, "drop never blocks");
  recs_clear(&kept);
  ring_free(r);
}

/** The old TS test's stream: 100-byte numbered lines in 77-byte pieces, acknowledged now and then. */
static void drop_stream(void) {
  const uint64_t cap = 64 * 1024;
  const size_t LINE = 100, PIECE = 77, LINES = 20000;
  ring *r = ring_new(cap, LF_DROP);
  lf_source s = source_of(r, 9);
  size_t len = LINES * LINE;
  uint8_t *stream = malloc(len);
  for (size_t i = 0; i < LINES; i++) {
    char num[16];
    snprintf(num, sizeof num, "%09zu", i);
    memcpy(stream + i * LINE, num, 9);
    memset(stream + i * LINE + 9, '.', LINE - 10);
    stream[i * LINE + LINE - 1] = '\n';
  }
  recs kept = { 0 };
  size_t writes = 0, dropping = 0, cut = 0;
  for (size_t at = 0; at < len; at += PIECE) {
    size_t n = len - at < PIECE ? len - at : PIECE;
    double in0 = stat(r, LF_ST_BYTES_IN), dr0 = stat(r, LF_ST_DROPPED_BYTES);
    CHECK_EQ(lf_intake_write(&no_intake, &s, stream + at, n, 0), 0, "drop answers 0");
    writes++;
    double in1 = stat(r, LF_ST_BYTES_IN), dr1 = stat(r, LF_ST_DROPPED_BYTES);
    if (dr1 > dr0) dropping++;
    if (dr1 > dr0 && in1 > in0) cut++;
    if (writes % 5000 == 0) consume_all(r, &kept);
  }
  consume_all(r, &kept);
  double dropped = stat(r, LF_ST_DROPPED_BYTES);
  CHECK(dropped > (double) cap, "%.0f bytes dropped", dropped);
  CHECK_EQ(stat(r, LF_ST_BYTES_IN) + dropped, len, "every byte is in the ring or counted as dropped");
  CHECK_EQ(s.next, len, "the cursor counts dropped bytes too");
  CHECK_EQ(stat(r, LF_ST_DROPPED_WRITES), dropping, "a write counts once as dropped");
  CHECK(cut > 0, "some writes finished a started line in the reserve and lost the rest");
  uint64_t end = 0, gaps = 0, broken = 0, wrong = 0, lines = 0;
  for (size_t i = 0; i < kept.n; i++) {
    rec *x = &kept.v[i];
    uint64_t off = (uint64_t) x->offset;
    if (off != end) {
      gaps += off - end;
      if (off % LINE != 0 || end % LINE != 0) broken++;
    }
    if (off + x->len > len || memcmp(x->data, stream + off, x->len) != 0) wrong++;
    lines += count_nl(x->data, x->len);
    end = off + x->len;
  }
  gaps += len - end;
  CHECK_EQ(broken, 0, "every gap starts and ends at a line boundary");
  CHECK_EQ(wrong, 0, "every kept byte is where its cursor says");
  CHECK_EQ(gaps, dropped, "the cursor gaps add up to the dropped bytes");
  CHECK_EQ(stat(r, LF_ST_LINES_IN), lines, "lines in");
  recs_clear(&kept);
  free(stream);
  ring_free(r);
}

/** The rest of a started line does not fit even without the reserve: the source's line state after the drop. */
static void drop_unfinished_rest(void) {
  ring *r = ring_new(4096, LF_BLOCK);
  lf_source a = source_of(r, 1), b = source_of(r, 2);
  uint8_t fill[1000];
  memset(fill, 'f', sizeof fill);
  fill[999] = '\n';
  CHECK_EQ(lf_intake_write(&no_intake, &a, (const uint8_t *) "ab", 2, 0), 0, "a line starts");
  while (lf_intake_write(&no_intake, &b, fill, sizeof fill, 0) == 0) {}
  while (lf_intake_write(&no_intake, &b, (const uint8_t *) "\n", 1, 0) == 0) {}
  CHECK_EQ(ring_head(r) - ring_tail(r), 4096, "full to the last byte");
  lf_tenant_set_policy(&r->t, LF_DROP);
  CHECK_EQ(lf_intake_write(&no_intake, &a, (const uint8_t *) "cd\nef\n", 6, 0), 0, "drop answers 0");
  CHECK_EQ(stat(r, LF_ST_DROPPED_BYTES), 6, "the end of the started line did not fit either");
  CHECK(!a.skipping, "nothing left to skip");
  ring_release(r, ring_head(r));
  lf_intake closed = { .closed = 1 };
  int rc = lf_intake_write(&closed, &a, (const uint8_t *) "gh\n", 3, 0);
  CHECK_EQ(rc, -EROFS, "after the end of a started line was dropped, the next write starts a new line");
  ring_free(r);
}

// --- block policy, with threads ---

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
    if (stat(r, LF_ST_WAITING) == n) return 1;
    sleep_ms(1);
  }
  failf(__FILE__, __LINE__, "%.0f writers never waited (%.0f do)", n, stat(r, LF_ST_WAITING));
  return 0;
}

static void fill_ring(ring *r, uint32_t id) {
  lf_source f = source_of(r, id);
  uint8_t buf[1000];
  memset(buf, 'F', sizeof buf);
  while (lf_intake_write(&no_intake, &f, buf, sizeof buf, 0) == 0) {}
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

static void block_ticket_order(void) {
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
  CHECK_EQ(stat(r, LF_ST_BLOCKED_WRITES), 4, "blocked writes");
  CHECK_EQ(stat(r, LF_ST_WAITING_BYTES), 2000 + 10 + 1000 + 500, "waiting bytes");
  lf_source probe = source_of(r, 50);
  CHECK_EQ(lf_intake_write(&ix, &probe, (const uint8_t *) "\n", 1, 0), LF_FULL,
    "a write from a thread that may not wait gets LF_FULL");
  CHECK_EQ(stat(r, LF_ST_WAITING), 4, "and does not queue");
  ring_release(r, ring_tail(r) + 1024);
  sleep_ms(20);
  CHECK_EQ(stat(r, LF_ST_WAITING), 4, "1024 bytes free: the 10-byte write would fit, but waits behind the first");
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
  CHECK_EQ(stat(r, LF_ST_WAITING), 0, "nobody waits");
  CHECK_EQ(stat(r, LF_ST_WAITING_BYTES), 0, "no waiting bytes");
  CHECK_EQ(stat(r, LF_ST_BLOCKED_WRITES), 4, "blocked writes stay counted");
  CHECK_EQ(stat(r, LF_ST_WRITES), 4 + 1 + 4 + 1, "writes: fill, its refused one, four waiting, the probe");
  CHECK_EQ(stat(r, LF_ST_BYTES_IN), 4000 + 3510, "bytes in");
  CHECK_EQ(stat(r, LF_ST_LINES_IN), 4, "lines in: one per writer");
  ring_free(r);
}

static void block_fail_waiting(void) {
  ring *r = ring_new(4096, LF_BLOCK);
  lf_intake ix = { 0 };
  fill_ring(r, 100);
  writer w[3];
  for (int i = 0; i < 3; i++) {
    writer_start(&w[i], &ix, r, (uint32_t) i, 100, 'w');
    await_waiting(r, i + 1);
  }
  lf_tenant_fail_waiting(&r->t, EIO);
  for (int i = 0; i < 3; i++) {
    writer_join(&w[i]);
    CHECK_EQ(w[i].rc, -EIO, "a waiting write is answered with the errno");
    CHECK_EQ(w[i].src.next, 0, "and moved no cursor");
  }
  CHECK_EQ(stat(r, LF_ST_WAITING), 0, "nobody waits");
  CHECK_EQ(stat(r, LF_ST_WAITING_BYTES), 0, "no waiting bytes");
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

static void block_policy_change(void) {
  ring *r = ring_new(4096, LF_BLOCK);
  lf_intake ix = { 0 };
  fill_ring(r, 100);
  writer w[2];
  for (int i = 0; i < 2; i++) {
    writer_start(&w[i], &ix, r, (uint32_t) i, 300, 'd');
    await_waiting(r, i + 1);
  }
  lf_tenant_set_policy(&r->t, LF_DROP);
  for (int i = 0; i < 2; i++) {
    writer_join(&w[i]);
    CHECK_EQ(w[i].rc, 0, "switched to drop: a waiting write is answered 0");
    CHECK_EQ(w[i].src.next, 300, "its bytes counted as dropped");
  }
  CHECK_EQ(stat(r, LF_ST_DROPPED_BYTES), 600, "dropped bytes");
  CHECK_EQ(stat(r, LF_ST_DROPPED_WRITES), 2, "dropped writes");
  CHECK_EQ(stat(r, LF_ST_WAITING), 0, "nobody waits");
  lf_tenant_set_policy(&r->t, LF_BLOCK);
  lf_source s = source_of(r, 5);
  CHECK_EQ(lf_intake_write(&ix, &s, (const uint8_t *) "x\n", 2, 0), LF_FULL, "block again");
  ring_release(r, ring_head(r));
  CHECK_EQ(lf_intake_write(&ix, &s, (const uint8_t *) "x\n", 2, 0), 0, "and a release lets writes in");
  ring_free(r);
}

static int data_calls;
static void count_data(void *arg) { (void) arg; __atomic_add_fetch(&data_calls, 1, __ATOMIC_RELAXED); }

static void block_closed_waiter(void) {
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

static void closed_flag(void) {
  ring *r = ring_new(4096, LF_BLOCK);
  lf_intake ix = { 0 };
  lf_source half = source_of(r, 1), whole = source_of(r, 2), none = source_of(NULL, 3);
  CHECK_EQ(lf_intake_write(&ix, &none, (const uint8_t *) "x\n", 2, 0), -ENOSPC, "a source without a ring");
  CHECK_EQ(lf_intake_write(&ix, &half, (const uint8_t *) "first half, ", 12, 0), 0, "open");
  CHECK_EQ(lf_intake_write(&ix, &whole, (const uint8_t *) "a line\n", 7, 0), 0, "open");
  __atomic_store_n(&ix.closed, 1, __ATOMIC_RELEASE);
  double writes = stat(r, LF_ST_WRITES);
  CHECK_EQ(lf_intake_write(&ix, &whole, (const uint8_t *) "new\n", 4, 0), -EROFS, "closed: a new line is refused");
  CHECK_EQ(stat(r, LF_ST_WRITES), writes, "and not counted as a write");
  CHECK_EQ(whole.next, 7, "nor moves the cursor");
  CHECK_EQ(lf_intake_write(&ix, &half, (const uint8_t *) "more, ", 6, 0), 0, "the started line continues");
  CHECK_EQ(lf_intake_write(&ix, &half, (const uint8_t *) "end\n", 4, 0), 0, "and ends");
  CHECK_EQ(lf_intake_write(&ix, &half, (const uint8_t *) "x", 1, 0), -EROFS, "then that source is refused too");
  CHECK_EQ(half.next, 22, "cursor");
  CHECK_EQ(stat(r, LF_ST_LINES_IN), 2, "lines in");
  ring_free(r);
}

static void announce_on_data(void) {
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

// --- tail buffer (the old TS TailBuffer test, and a longer file) ---

static void read_str(lf_tail *t, uint64_t off, size_t len, char *out, uint64_t *n) {
  memset(out, '#', len);
  *n = lf_tail_read(t, off, (uint8_t *) out, len);
}

static void tail_buffer(void) {
  lf_tail tb;
  lf_tail_init(&tb, 8);
  char out[16];
  uint64_t n;
  CHECK_EQ(lf_tail_write(&tb, 0, (const uint8_t *) "abcdefghij", 10), 0, "write");
  read_str(&tb, 0, 10, out, &n);
  CHECK_EQ(n, 10, "read");
  CHECK_MEM(out, "\0\0cdefghij", 10, "only the last 8 bytes are held");
  CHECK_EQ(tb.held, 8, "memory held stops at the cap");
  lf_tail_write(&tb, 4, (const uint8_t *) "XY", 2);
  read_str(&tb, 0, 10, out, &n);
  CHECK_MEM(out, "\0\0cdXYghij", 10, "overwrite in the window");
  lf_tail_write(&tb, 0, (const uint8_t *) "Q", 1);
  read_str(&tb, 0, 10, out, &n);
  CHECK_MEM(out, "\0\0cdXYghij", 10, "a write below the window does not disturb it");
  CHECK_EQ(lf_tail_truncate(&tb, 5), 0, "truncate down");
  read_str(&tb, 0, 10, out, &n);
  CHECK_EQ(n, 5, "reads stop at the new size");
  CHECK_MEM(out, "\0\0cdX", 5, "what is left");
  CHECK_EQ(lf_tail_truncate(&tb, 12), 0, "truncate up");
  read_str(&tb, 0, 12, out, &n);
  CHECK_EQ(n, 12, "read");
  CHECK_MEM(out, "\0\0\0\0X\0\0\0\0\0\0\0", 12, "extended with zeros; the window moved past cd");
  lf_tail_write(&tb, 14, (const uint8_t *) "Z", 1);
  CHECK_EQ(tb.size, 15, "size");
  read_str(&tb, 7, 8, out, &n);
  CHECK_EQ(n, 8, "read");
  CHECK_MEM(out, "\0\0\0\0\0\0\0Z", 8, "a write past the end leaves a hole of zeros");
  read_str(&tb, 15, 4, out, &n);
  CHECK_EQ(n, 0, "nothing past the end");
  CHECK_EQ(out[0], '#', "and nothing written");
  read_str(&tb, 13, 8, out, &n);
  CHECK_EQ(n, 2, "a read across the end stops at it");
  CHECK_MEM(out, "\0Z##", 4, "only the bytes before the end are filled");
  lf_tail_free(&tb);

  // A longer file in odd pieces: the last `cap` bytes read back, everything before as zeros.
  const uint64_t cap = 10000, len = 123457;
  lf_tail big;
  lf_tail_init(&big, cap);
  uint8_t *src = malloc(len), *got = malloc(len);
  fill_pattern(src, 0, len);
  for (uint64_t at = 0; at < len; at += 777) lf_tail_write(&big, at, src + at, len - at < 777 ? len - at : 777);
  CHECK(big.held <= cap, "held %llu", (unsigned long long) big.held);
  CHECK_EQ(lf_tail_read(&big, 0, got, len), len, "read all");
  int zeros = 1;
  for (uint64_t i = 0; i < len - cap; i++) zeros &= got[i] == 0;
  CHECK(zeros, "below the window: zeros");
  CHECK_MEM(got + (len - cap), src + (len - cap), cap, "the window wraps around the buffer");
  // Shrink, then grow past the old end: the bytes between come back as zeros, not as stale ones.
  lf_tail_truncate(&big, len - 100);
  lf_tail_write(&big, len + 50, (const uint8_t *) "!", 1);
  CHECK_EQ(lf_tail_read(&big, len - 200, got, 400), 251, "read to the new end");
  CHECK_MEM(got, src + len - 200, 100, "kept bytes");
  int stale = 0;
  for (int i = 100; i < 250; i++) stale |= got[i] != 0;
  CHECK(!stale, "a shrunk-away range reads as zeros once the file grows again");
  CHECK_EQ(got[250], '!', "the new byte");
  free(src);
  free(got);
  lf_tail_free(&big);

  // No tail at all (cap 0): sizes move, reads give zeros.
  lf_tail none;
  lf_tail_init(&none, 0);
  CHECK_EQ(lf_tail_write(&none, 0, (const uint8_t *) "abc", 3), 0, "write");
  CHECK_EQ(lf_tail_truncate(&none, 10), 0, "truncate");
  CHECK_EQ(none.size, 10, "size");
  read_str(&none, 0, 10, out, &n);
  CHECK_EQ(n, 10, "read");
  CHECK_MEM(out, "\0\0\0\0\0\0\0\0\0\0", 10, "zeros");
  CHECK_EQ(none.held, 0, "no memory");
  lf_tail_free(&none);
}

// --- the file table ---

static void files_table(void) {
  lf_source src = { .id = 1, .line_ended = 1 };
  uint64_t base = lf_files_tail_bytes();
  CHECK(lf_files_get(5) == NULL, "nothing there yet");
  CHECK(lf_files_get((uint64_t) 1 << 40) == NULL, "nor far away");
  CHECK_EQ(lf_files_add(5, &src, 64, NULL, 0, NULL), 0, "add");
  lf_file *f = lf_files_get(5);
  CHECK(f != NULL, "get");
  if (f == NULL) return;
  CHECK(f->wb.source == &src, "its source");
  CHECK_EQ(f->tail.cap, 64, "its tail");
  CHECK_EQ(lf_file_write(f, 0, (const uint8_t *) "hello\n", 6, 1234.0), 0, "write");
  uint64_t size;
  double mtime;
  lf_file_state(f, &size, &mtime);
  CHECK_EQ(size, 6, "size");
  CHECK_EQ(mtime, 1234.0, "mtime");
  CHECK_EQ(lf_files_tail_bytes() - base, 64, "tail bytes count what the tails hold");
  char out[8];
  CHECK_EQ(lf_file_read(f, 0, (uint8_t *) out, 8), 6, "read");
  CHECK_MEM(out, "hello\n", 6, "bytes");
  CHECK_EQ(lf_file_truncate(f, 2, 2000.0), 0, "truncate");
  CHECK_EQ(f->wb.lower_to, 2, "a truncate posts the new end for the writeback path (lower_to)");
  lf_file_state(f, &size, &mtime);
  CHECK_EQ(size, 2, "size");
  CHECK_EQ(mtime, 2000.0, "mtime");

  // Another chunk of the table, a file never shipped, and a replaced entry (the old one is freed).
  uint64_t far = 3 * 4096 + 17;
  CHECK_EQ(lf_files_add(far, NULL, 0, NULL, 0, NULL), 0, "add in another chunk");
  CHECK(lf_files_get(far) != NULL && lf_files_get(far)->wb.source == NULL, "not shipped");
  CHECK(lf_files_get(far + 1) == NULL, "its neighbour is empty");
  CHECK_EQ(lf_files_add(5, NULL, 16, NULL, 0, NULL), 0, "replace");
  lf_file *g = lf_files_get(5);
  CHECK(g != NULL && g->wb.source == NULL && g->tail.size == 0, "a fresh entry");
  CHECK_EQ(lf_files_tail_bytes() - base, 0, "the old tail's bytes are given back");
  if (g) lf_file_write(g, 0, (const uint8_t *) "abc", 3, 1.0);
  CHECK_EQ(lf_files_tail_bytes() - base, 16, "tail bytes");
  CHECK_EQ(lf_files_add((uint64_t) 1 << 40, NULL, 0, NULL, 0, NULL), -EINVAL, "an inode beyond the table");
  lf_files_remove(5);
  CHECK(lf_files_get(5) == NULL, "removed");
  CHECK_EQ(lf_files_tail_bytes() - base, 0, "tail bytes given back");
  lf_files_remove(5);
  lf_files_remove(far);
  lf_files_remove(999999);
  CHECK(lf_files_get(far) == NULL, "removed");
}

// --- the state a restarted agent takes over (state.c) ---

/** A memfd holding a state header with this magic, version and total size, as another build could leave it. */
static int foreign_state(const char *magic, uint32_t version, uint64_t total) {
  int fd = memfd_create("logfs-state-test", MFD_CLOEXEC);
  CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
  if (fd < 0) return -1;
  uint8_t page[4096] = { 0 };
  lf_state_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, magic, sizeof h.magic);
  h.version = version;
  h.total_bytes = total;
  h.memory = 1 << 20;
  memcpy(page, &h, sizeof h);
  CHECK(write(fd, page, sizeof page) == (ssize_t) sizeof page, "write the header");
  CHECK_EQ(ftruncate(fd, 1 << 20), 0, "ftruncate");
  return fd;
}

/** lf_state_open on a state it must refuse: -1, an error naming `why`, and nothing opened. */
static void refused(int fd, const char *why, const char *what) {
  char err[256] = "";
  CHECK_EQ(lf_state_open(fd, 64 << 20, 4096, err, sizeof err), -1, what);
  CHECK(strstr(err, why) != NULL, "%s: the error \"%s\" says %s", what, err, why);
  CHECK(lf_state() == NULL, "%s: nothing is mapped", what);
  if (fd >= 0) close(fd);
}

static void state_takeover(void) {
  // The refusals first: lf_state_open maps a state once per process, and a refused one leaves nothing open.
  refused(foreign_state("logfs-st", 999, 1 << 20), "version", "another version");
  refused(foreign_state("notlogfs", LF_STATE_VERSION, 1 << 20), "not a logfs state", "another magic");
  refused(foreign_state("logfs-st", LF_STATE_VERSION, 12345), "layout", "a size its layout does not give");

  char err[256] = "";
  CHECK_EQ(lf_state_open(-1, 64 << 20, 4096, err, sizeof err), LF_STATE_FRESH, "a private memfd is a fresh state");
  if (lf_state() == NULL) {
    failf(__FILE__, __LINE__, "lf_state_open: %s", err);
    return;
  }
  CHECK_EQ(lf_state_open(-1, 64 << 20, 4096, err, sizeof err), -1, "a second open");
  CHECK(strstr(err, "already open") != NULL, "the error \"%s\" says so", err);
  CHECK_EQ(lf_state()->version, LF_STATE_VERSION, "version");
  CHECK_MEM(lf_state()->magic, "logfs-st", 8, "magic");

  int64_t *ctl = NULL;
  uint8_t *data = NULL;
  CHECK(lf_state_tenant_new("t", 1 << 20, 1 << 20, LF_BLOCK, &ctl, &data) != NULL, "a tenant's ring");
  if (ctl == NULL) return;
  int64_t *ctl2 = NULL;
  uint8_t *data2 = NULL;
  lf_tenant_rec *tr = lf_state_tenant(0, &ctl2, &data2);
  CHECK(tr != NULL && ctl2 == ctl && data2 == data, "found again by its index");
  CHECK(tr != NULL && strcmp(tr->name, "t") == 0 && tr->capacity == 1 << 20, "with its name and capacity");
  lf_tenant t;
  lf_tenant_init(&t, data, 1 << 20, ctl, LF_BLOCK);
  lf_source_rec *rec = lf_state_source_new(0, "t/a.log", 7);
  CHECK(rec != NULL, "a source");
  if (rec == NULL) { lf_tenant_destroy(&t); return; }
  CHECK(lf_state_source(rec->s.id) == rec, "found again by its id");
  CHECK_MEM(lf_state_source_path(rec), "t/a.log", 7, "its path");
  CHECK_EQ(rec->s.line_ended, 1, "a new source is at a line boundary");
  rec->s.tenant = &t;
  lf_intake ix = { 0 };

  // A: killed after the record was published but before the cursor moved.
  lf_intent *w = lf_state_intent(0);
  w->unique = 42;
  w->source = rec->s.id;
  w->cursor = LF_NO_CURSOR;
  w->armed = 1;
  lf_intake_mark = &w->cursor;
  CHECK_EQ(lf_intake_write(&ix, &rec->s, (const uint8_t *) "hello\n", 6, 0), 0, "write");
  lf_intake_mark = NULL;
  CHECK_EQ(w->cursor, 0, "the intent got the cursor the bytes start at");
  CHECK_EQ(ctl[LF_CTL_HEAD], 32, "the record is published");
  CHECK_EQ(ctl[LF_CTL_ANNOUNCED], 1, "and announced");
  rec->s.next = 0;
  rec->s.line_ended = 0;

  // B: taken but never put in.
  lf_intent *w2 = lf_state_intent(1);
  w2->unique = 43;
  w2->source = rec->s.id;
  w2->cursor = LF_NO_CURSOR;
  w2->armed = 1;

  t.stats[LF_ST_WAITING] = 3;
  t.stats[LF_ST_WAITING_BYTES] = 300;
  lf_tenant *ts[1] = { &t };
  lf_state_recover(ts, 1);
  CHECK_EQ(rec->s.next, 6, "the cursor moved past the record the ring holds");
  CHECK_EQ(rec->s.line_ended, 1, "which ended a line");
  CHECK_EQ(lf_state_resend_done(42), 1, "A's resent request is answered without taking its bytes again");
  CHECK_EQ(lf_state_resend_done(42), 0, "once only");
  CHECK_EQ(lf_state_resend_done(43), 0, "B's resent request is taken as new");
  CHECK_EQ(lf_state_resend_done(0), 0, "request id 0 never matches");
  CHECK_EQ(lf_state_intent(0)->armed, 0, "A's intent is disarmed");
  CHECK_EQ(lf_state_intent(1)->armed, 0, "B's intent is disarmed");
  CHECK_EQ(ctl[LF_CTL_ANNOUNCED], 0, "the announced flag is cleared");
  CHECK_EQ(t.stats[LF_ST_WAITING], 0, "the dead agent's waiting writers are not counted");
  CHECK_EQ(t.stats[LF_ST_WAITING_BYTES], 0, "nor their bytes");
  CHECK_EQ(ctl[LF_CTL_HEAD], 32, "the ring is left as it was");
  // A cursor already past the records stays where it is, and a second recovery finds nothing to answer.
  rec->s.next = 10;
  lf_state_recover(ts, 1);
  CHECK_EQ(rec->s.next, 10, "a cursor never moves back");
  CHECK_EQ(lf_state_resend_done(42), 0, "nothing to answer after a recovery with no armed intent");
  lf_tenant_destroy(&t);

  // The namespace: a journal of u32-length-prefixed records after the live snapshot, switched by a new snapshot.
  const uint8_t *snap, *journal;
  uint64_t snap_len, journal_len;
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK(snap_len == 0 && journal_len == 0, "a fresh state has an empty namespace");
  CHECK_EQ(lf_state_meta_append((const uint8_t *) "abc", 3), 0, "append");
  CHECK_EQ(lf_state_meta_append((const uint8_t *) "hello", 5), 0, "append");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK_EQ(snap_len, 0, "no snapshot yet");
  CHECK_EQ(journal_len, (4 + 3) + (4 + 5), "the journal: two records with their lengths");
  if (journal_len == 16) CHECK_MEM(journal, "\3\0\0\0abc\5\0\0\0hello", 16, "journal bytes");
  CHECK_EQ(lf_state_meta_snapshot((const uint8_t *) "SNAPSHOT", 8), 0, "snapshot");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK_EQ(snap_len, 8, "the snapshot is live");
  CHECK_MEM(snap, "SNAPSHOT", 8, "snapshot bytes");
  CHECK_EQ(journal_len, 0, "with an empty journal");
  CHECK_EQ(lf_state()->meta_live, 1, "in the other slot");
  CHECK_EQ(lf_state_meta_append((const uint8_t *) "x", 1), 0, "append after the snapshot");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK(journal == snap + 8 && journal_len == 5, "the journal follows the snapshot");
  CHECK_MEM(journal, "\1\0\0\0x", 5, "journal bytes");
  CHECK_EQ(lf_state_meta_snapshot((const uint8_t *) "S2", 2), 0, "another snapshot");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK(lf_state()->meta_live == 0 && snap_len == 2 && journal_len == 0,
    "back in the first slot, whose old journal is gone");
  CHECK_EQ(lf_state_meta_snapshot(snap, LF_META_BYTES), -1, "a snapshot larger than a slot is refused");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK(lf_state()->meta_live == 0 && snap_len == 2, "and leaves the live one as it was");

  // A file's tail lives in its slot of the state: the next agent reads back what the dead one held.
  uint64_t cap = lf_state()->tail_cap;
  CHECK_EQ(cap, 4096, "tails are whole pages");
  CHECK_EQ(lf_files_add(77, NULL, cap, lf_state_file(3), 0, lf_state_tail(3)), 0, "a file in slot 3");
  lf_file *f = lf_files_get(77);
  for (int i = 0; i < 700; i++) lf_file_write(f, (uint64_t) i * 10, (const uint8_t *) "line %03d\n", 10, 5.0);
  CHECK(lf_state_file(3)->size == 7000 && lf_state_file(3)->low == 7000 - 4096, "size and window mirrored");
  CHECK_EQ(lf_files_add(78, NULL, cap, lf_state_file(3), 1, lf_state_tail(3)), 0, "taken back as another agent would");
  char back[20] = { 0 };
  CHECK_EQ(lf_file_read(lf_files_get(78), 6980, (uint8_t *) back, 20), 20, "its last bytes");
  CHECK_MEM(back, "line %03d\nline %03d\n", 20, "read back as written");
  CHECK_EQ(lf_file_read(lf_files_get(78), 0, (uint8_t *) back, 10), 10, "below the window");
  CHECK_MEM(back, "\0\0\0\0\0\0\0\0\0\0", 10, "zeros, as before");
  lf_files_remove(78);
  CHECK(lf_state_tail(3)[6990 % cap] == 0, "a removed file's pages go back: the next file in the slot finds zeros");
}

static uint32_t fnv_lower(const char *s) {
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; s[i] && i < LF_MAX_TOKEN; i++) h = (h ^ (uint32_t)((uint8_t) s[i] | 0x20)) * 0x01000193u;
  return h;
}

static int has_hash(const uint32_t *hashes, int64_t n, uint32_t h) {
  for (int64_t i = 0; i < n; i++) if (hashes[i] == h) return 1;
  return 0;
}

/* The store's block tokenizer on the sizes its pieces take: tokens that run past a piece's end up to its limit,
 * the 64-byte cut, the set growing past its first size, per-piece lines and levels. */
static void block_tokens(void) {
  char *data = malloc(300000);
  size_t n = (size_t) sprintf(data, "ERROR first line ab x_y_z\ninfo second %s\nwarning tail", "q");
  const struct lf_piece one[] = { { 0, 0, (int32_t) n - 2, (int32_t) n } };
  const uint32_t levels[] = { fnv_lower("error"), fnv_lower("info"), fnv_lower("warning") };
  const uint8_t level_of[] = { 1, 3, 2 };
  uint32_t stats[LF_PIECE_STATS], *hashes = NULL;
  int64_t got = lf_block_tokens((const uint8_t *) data, one, 1, levels, level_of, 3, &hashes, stats);
  CHECK(got > 0, "tokens found");
  CHECK(has_hash(hashes, got, fnv_lower("error")), "lowercased");
  CHECK(has_hash(hashes, got, fnv_lower("x_y_z")), "underscore is a word byte");
  CHECK(!has_hash(hashes, got, fnv_lower("ab")), "two bytes are too short");
  CHECK(has_hash(hashes, got, fnv_lower("tail")), "a token starting before the end runs on to the limit");
  for (int64_t i = 1; i < got; i++) CHECK(hashes[i - 1] < hashes[i], "ascending and distinct");
  CHECK_EQ(stats[0], 2, "newlines");
  CHECK(stats[1 + 1] == 1 && stats[1 + 3] == 1 && stats[1 + 2] == 1, "one line per level word");
  free(hashes);
  // Many distinct tokens (the set grows) and one longer than the 64-byte cut.
  size_t at = 0;
  for (int i = 0; i < 20000; i++) at += (size_t) sprintf(data + at, "tok%d ", i);
  memset(data + at, 'k', 100);
  at += 100;
  const struct lf_piece two[] = { { 0, 0, (int32_t) at / 2, (int32_t) at / 2 }, { (int32_t) at / 2, (int32_t) at / 2,
    (int32_t) at, (int32_t) at } };
  uint32_t stats2[2 * LF_PIECE_STATS];
  got = lf_block_tokens((const uint8_t *) data, two, 2, levels, level_of, 3, &hashes, stats2);
  CHECK(got >= 20000, "every distinct token kept");
  char cut[LF_MAX_TOKEN + 1];
  memset(cut, 'k', LF_MAX_TOKEN);
  cut[LF_MAX_TOKEN] = 0;
  CHECK(has_hash(hashes, got, fnv_lower(cut)), "a long token hashed by its first 64 bytes");
  free(hashes);
  free(data);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("TAP version 14\n");
  RUN("records: round trip with wrap-around and PAD", records_round_trip);
  RUN("records: 16-byte skip, PAD, exact fit", records_skip_and_pad);
  RUN("drop: line cutting, reserve, skipping", drop_line_cutting);
  RUN("drop: a stream in pieces keeps whole lines", drop_stream);
  RUN("drop: the rest of a started line that does not fit", drop_unfinished_rest);
  RUN("block: waiting writers go in ticket order as a consumer frees space", block_ticket_order);
  RUN("block: fail_waiting answers waiting writers with the errno", block_fail_waiting);
  RUN("block: switching to drop lets waiting writers go", block_policy_change);
  RUN("block: a writer waiting when the stop begins still goes in", block_closed_waiter);
  RUN("closed: refuses new lines, lets a started line finish", closed_flag);
  RUN("announce: the flag and on_data", announce_on_data);
  RUN("tail: window, holes, overwrite, truncate", tail_buffer);
  RUN("files: add, get, replace, remove", files_table);
  RUN("writeback: a stop's seal ends each file's stream at a line boundary", writeback_seal);
  RUN("budget: borrowing, a spent pool, waking another tenant's waiter, recount", budget_pool);
  RUN("state: a takeover recovers cursors and unanswered writes", state_takeover);
  RUN("tokens: block tokens, lines and levels per piece", block_tokens);
  printf("1..%d\n", n_tests);
  printf("# %d tests, %d failed\n", n_tests, n_failed);
  if (n_tests == 0) {
    fprintf(stderr, "producer_test: no test matched the arguments\n");
    return 2;
  }
  if (n_failed) {
    fprintf(stderr, "producer_test: %d of %d tests failed (see the FAIL lines above)\n", n_failed, n_tests);
    return 1;
  }
  return 0;
}
