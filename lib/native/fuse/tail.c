// A C port of the tail buffer lib/fs/tail.ts had, so writes and reads are answered on the FUSE threads.
#include "tail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

void lf_tail_init(lf_tail *t, uint64_t cap) {
  memset(t, 0, sizeof *t);
  t->cap = cap;
}

void lf_tail_init_external(lf_tail *t, uint8_t *buf, uint64_t cap, uint64_t size, uint64_t low) {
  lf_tail_init(t, cap);
  t->buf = buf;
  t->external = 1;
  t->size = size;
  t->low = low;
  t->held = min64(cap, size);
}

void lf_tail_free(lf_tail *t) {
  // An external buffer's pages go back to the system; the next file in the slot finds zeros.
  if (t->external && t->held > 0) madvise(t->buf, t->cap, MADV_REMOVE);
  else if (!t->external) free(t->buf);
  t->buf = NULL;
  t->held = 0;
}

static int grow(lf_tail *t, uint64_t up_to) {
  uint64_t want = min64(t->cap, up_to);
  if (want <= t->held) return 0;
  uint64_t next = min64(t->cap, max64(want, max64(t->held * 2, 4096)));
  uint8_t *buf = t->external ? t->buf : realloc(t->buf, next);
  if (buf == NULL) return -ENOMEM;
  memset(buf + t->held, 0, next - t->held);
  t->buf = buf;
  t->held = next;
  return 0;
}

static void put(lf_tail *t, uint64_t offset, const uint8_t *bytes, uint64_t len) {
  uint64_t at = offset % t->cap;
  for (uint64_t from = 0; from < len;) {
    uint64_t n = min64(len - from, t->cap - at);
    memcpy(t->buf + at, bytes + from, n);
    from += n;
    at = 0;
  }
}

static void zero(lf_tail *t, uint64_t from, uint64_t to) {
  uint64_t p = to > t->cap ? max64(from, to - t->cap) : from;
  while (p < to) {
    uint64_t at = p % t->cap;
    uint64_t n = min64(to - p, t->cap - at);
    memset(t->buf + at, 0, n);
    p += n;
  }
}

int lf_tail_write(lf_tail *t, uint64_t offset, const uint8_t *bytes, uint64_t len) {
  if (t->cap == 0) {
    t->size = max64(t->size, offset + len);
    t->low = t->size;
    return 0;
  }
  uint64_t end = offset + len;
  uint64_t size = max64(t->size, end);
  // Bytes below the new window are gone; an overwrite inside the window keeps what was around it.
  uint64_t low = max64(t->low, size > t->cap ? size - t->cap : 0);
  if (grow(t, size) != 0) return -ENOMEM;
  if (offset > t->size) zero(t, max64(t->size, low), offset);
  uint64_t from = max64(offset, low);
  if (from < end) put(t, from, bytes + (from - offset), end - from);
  t->size = size;
  t->low = low;
  return 0;
}

int lf_tail_truncate(lf_tail *t, uint64_t size) {
  if (size < t->size) {
    t->size = size;
    t->low = min64(t->low, size);
    return 0;
  }
  if (t->cap == 0) {
    t->size = t->low = size;
    return 0;
  }
  if (grow(t, size) != 0) return -ENOMEM;
  zero(t, t->size, size);
  t->size = size;
  t->low = max64(t->low, size > t->cap ? size - t->cap : 0);
  return 0;
}

uint64_t lf_tail_read(const lf_tail *t, uint64_t offset, uint8_t *into, uint64_t len) {
  uint64_t end = min64(t->size, offset + len);
  if (end <= offset) return 0;
  memset(into, 0, end - offset);
  for (uint64_t p = max64(offset, t->low); p < end;) {
    uint64_t at = p % t->cap;
    uint64_t n = min64(end - p, t->cap - at);
    memcpy(into + (p - offset), t->buf + at, n);
    p += n;
  }
  return end - offset;
}
