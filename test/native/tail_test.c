// A file's tail buffer (the old TS TailBuffer test, and a longer file) and the file table that holds the tails.
// Run by producer_test.c.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ring_fixture.h"
#include "tests.h"
#include "files.h"
#include "tail.h"

static void read_str(lf_tail *t, uint64_t off, size_t len, char *out, uint64_t *n) {
  memset(out, '#', len);
  *n = lf_tail_read(t, off, (uint8_t *) out, len);
}

void tail_buffer(void) {
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

void files_table(void) {
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
