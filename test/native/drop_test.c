// The drop policy: new lines stop short of the reserve, a started line may finish in it, the rest of a line that
// did not fit is dropped up to its newline, and the cursor gaps are exactly the dropped bytes. Run by
// producer_test.c.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ring_fixture.h"
#include "tests.h"

/** Appends a copy of the records in [tail, pos) and frees them, as the shipper does on an acknowledgement. */
static void consume_to(ring *r, uint64_t pos, recs *kept) {
  read_records(r, ring_tail(r), pos, kept);
  ring_release(r, pos);
}

static void consume_all(ring *r, recs *kept) { consume_to(r, ring_head(r), kept); }

void drop_line_cutting(void) {
  // 4 KiB ring, reserve 256 bytes; a 100-byte line takes 128.
  ring *r = ring_new(4096, LF_DROP);
  lf_source s = source_of(r, 1);
  recs kept = { 0 };
  uint8_t line[100];
  memset(line, 'l', sizeof line);
  line[99] = '\n';
  int accepted = 0;
  while (ring_stat(r, LF_ST_DROPPED_BYTES) == 0 && accepted < 100) {
    CHECK_EQ(lf_intake_write(&no_intake, &s, line, sizeof line, 0), 0, "drop answers 0");
    if (ring_stat(r, LF_ST_DROPPED_BYTES) == 0) accepted++;
  }
  CHECK_EQ(accepted, (4096 - 256) / 128, "new lines stop short of the reserve");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_BYTES), 100, "the line that did not fit");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_WRITES), 1, "dropped writes");
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
  double in = ring_stat(r, LF_ST_BYTES_IN);
  CHECK_EQ(lf_intake_write(&no_intake, &s, rest, sizeof rest, 0), 0, "its end and two more lines (280 + 256 > 432)");
  CHECK_EQ(ring_stat(r, LF_ST_BYTES_IN) - in, 50, "the end of the started line went in");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_BYTES), 100 + 200, "the two new lines were dropped");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_WRITES), 2, "dropped writes");
  CHECK(!s.skipping, "the write ended with a newline: nothing to skip");

  // A new line that does not fit is dropped with everything up to its newline, in later writes too.
  uint8_t part[100];
  memset(part, 'p', sizeof part);
  CHECK_EQ(lf_intake_write(&no_intake, &s, part, sizeof part, 0), 0, "the start of a line (128 + 256 > 352)");
  CHECK(s.skipping, "its rest will be dropped");
  CHECK_EQ(lf_intake_write(&no_intake, &s, part, 30, 0), 0, "more of it, no newline");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_WRITES), 4, "each of those writes counts once");
  consume_all(r, &kept);
  const char *tail = "end of the dropped line\nnext line\n";
  in = ring_stat(r, LF_ST_BYTES_IN);
  double dropped = ring_stat(r, LF_ST_DROPPED_BYTES);
  CHECK_EQ(lf_intake_write(&no_intake, &s, (const uint8_t *) tail, strlen(tail), 0), 0, "with room again");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_BYTES) - dropped, strlen("end of the dropped line\n"),
    "the rest of the cut line");
  CHECK_EQ(ring_stat(r, LF_ST_BYTES_IN) - in, strlen("next line\n"), "the next line goes in");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_WRITES), 5, "dropped writes");
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
  CHECK_EQ(gaps + (s.next - end), ring_stat(r, LF_ST_DROPPED_BYTES), "gaps add up to the dropped bytes");
  CHECK_EQ(in_bytes, ring_stat(r, LF_ST_BYTES_IN), "the records hold the bytes in");
  CHECK_EQ(broken, 0, "no gap cuts a line that went in");
  CHECK_EQ(ring_stat(r, LF_ST_BLOCKED_WRITES), 0, "drop never blocks");
  recs_clear(&kept);
  ring_free(r);
}

/** The old TS test's stream: 100-byte numbered lines in 77-byte pieces, acknowledged now and then. */
void drop_stream(void) {
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
    double in0 = ring_stat(r, LF_ST_BYTES_IN), dr0 = ring_stat(r, LF_ST_DROPPED_BYTES);
    CHECK_EQ(lf_intake_write(&no_intake, &s, stream + at, n, 0), 0, "drop answers 0");
    writes++;
    double in1 = ring_stat(r, LF_ST_BYTES_IN), dr1 = ring_stat(r, LF_ST_DROPPED_BYTES);
    if (dr1 > dr0) dropping++;
    if (dr1 > dr0 && in1 > in0) cut++;
    if (writes % 5000 == 0) consume_all(r, &kept);
  }
  consume_all(r, &kept);
  double dropped = ring_stat(r, LF_ST_DROPPED_BYTES);
  CHECK(dropped > (double) cap, "%.0f bytes dropped", dropped);
  CHECK_EQ(ring_stat(r, LF_ST_BYTES_IN) + dropped, len, "every byte is in the ring or counted as dropped");
  CHECK_EQ(s.next, len, "the cursor counts dropped bytes too");
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_WRITES), dropping, "a write counts once as dropped");
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
  CHECK_EQ(ring_stat(r, LF_ST_LINES_IN), lines, "lines in");
  recs_clear(&kept);
  free(stream);
  ring_free(r);
}

/** The rest of a started line does not fit even without the reserve: the source's line state after the drop. */
void drop_unfinished_rest(void) {
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
  CHECK_EQ(ring_stat(r, LF_ST_DROPPED_BYTES), 6, "the end of the started line did not fit either");
  CHECK(!a.skipping, "nothing left to skip");
  ring_release(r, ring_head(r));
  lf_intake closed = { .closed = 1 };
  int rc = lf_intake_write(&closed, &a, (const uint8_t *) "gh\n", 3, 0);
  CHECK_EQ(rc, -EROFS, "after the end of a started line was dropped, the next write starts a new line");
  ring_free(r);
}
