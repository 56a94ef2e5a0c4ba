// Writeback's side of a stop (lib/native/fuse/writeback.h): after the seal a file takes only the rest of a line its
// shipped bytes had begun, cut after its newline, and pieces that came ahead of a gap since the stop's last sync
// are dropped. Run by producer_test.c.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tests.h"
#include "files.h"
#include "intake.h"
#include "writeback.h"

#define CAP (1u << 20)

/** The data of every record from the start of a ring that never wrapped, in order. */
static size_t ring_text(const uint8_t *data, uint64_t head, char *out) {
  size_t n = 0;
  for (uint64_t pos = 0; pos < head;) {
    uint32_t len;
    memcpy(&len, data + pos, sizeof len);
    memcpy(out + n, data + pos + LF_HEADER, len);
    n += len;
    pos += (LF_HEADER + len + 7) & ~(uint64_t) 7;
  }
  out[n] = 0;
  return n;
}

static int wb_write(lf_intake *ix, lf_file *f, const char *text, uint64_t off) {
  return lf_wb_write(ix, &f->wb, (const uint8_t *) text, strlen(text), off);
}

void writeback_seal(void) {
  uint8_t *data = calloc(1, CAP);
  int64_t *ctl = calloc(1, LF_CONTROL_BYTES);
  char *text = calloc(1, CAP);
  lf_tenant t;
  lf_tenant_init(&t, data, CAP, ctl, LF_BLOCK);
  lf_source a = { .tenant = &t, .id = 1, .line_ended = 1 }, b = { .tenant = &t, .id = 2, .line_ended = 1 };
  lf_intake ix = { 0 };
  CHECK_EQ(lf_files_add(901, &a, 0, NULL, 0, NULL), 0, "file a");
  CHECK_EQ(lf_files_add(902, &b, 0, NULL, 0, NULL), 0, "file b");
  lf_file *fa = lf_files_get(901), *fb = lf_files_get(902);
  uint64_t open_before = lf_wb_open_lines(), waiting_before = lf_wb_waiting_bytes();

  // Before the stop: a ends inside a line; both get a page ahead of a gap.
  CHECK_EQ(wb_write(&ix, fa, "a1\na2-", 0), 0, "a's first page");
  CHECK_EQ(lf_wb_open_lines() - open_before, 1, "a's shipped bytes end inside a line");
  CHECK_EQ(wb_write(&ix, fb, "b1\n", 0), 0, "b's first page");
  double since = lf_wb_now();
  CHECK_EQ(wb_write(&ix, fa, "a9\n", 100), 0, "a page of a ahead of a gap waits");
  CHECK_EQ(wb_write(&ix, fb, "b9\n", 100), 0, "a page of b ahead of a gap waits");
  CHECK_EQ(lf_wb_waiting_bytes() - waiting_before, 6, "both wait");

  lf_wb_seal(&ix, since, LF_CLOSING);
  CHECK_EQ(lf_wb_waiting_bytes() - waiting_before, 3, "b is at a line boundary: its piece since the sync is dropped");
  CHECK_EQ(wb_write(&ix, fb, "b1\nb2\n", 0), -EROFS, "b takes no new line");
  CHECK_EQ(wb_write(&ix, fb, "b1\n", 0), 0, "a page b had shipped, sent again, is no error");
  CHECK_EQ(wb_write(&ix, fa, "a1\na2-end\na3\n", 0), -EROFS, "a takes the rest of its line, and refuses the next");
  CHECK_EQ(lf_wb_open_lines() - open_before, 0, "a now ends at a line boundary");
  CHECK_EQ(wb_write(&ix, fa, "a3\n", 10), -EROFS, "and takes nothing more");
  lf_wb_seal(&ix, since, LF_CLOSED);
  CHECK_EQ(lf_wb_waiting_bytes() - waiting_before, 0, "the end of the seal drops a's piece");
  CHECK_EQ(a.next, 10, "a's stream: its lines up to the seal, whole");
  CHECK_EQ(b.next, 3, "b's stream: as before the seal");
  size_t n = ring_text(data, (uint64_t) ctl[LF_CTL_HEAD], text);
  CHECK(n == 13 && strcmp(text, "a1\na2-b1\nend\n") == 0, "the ring holds %s", text);

  lf_files_remove(901);
  lf_files_remove(902);
  lf_tenant_destroy(&t);
  free(text);
  free(ctl);
  free(data);
}
