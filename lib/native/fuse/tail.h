// The last bytes of a file, kept so `tail` and `cat` of a recent part work on the mount. Older bytes are already
// on their way to the server; reading them here gives zeros, exactly like a sparse file's holes.
// Not thread-safe: the file that owns it locks around every call (files.h).
#ifndef LOGFS_TAIL_H
#define LOGFS_TAIL_H

#include <stdint.h>
#include <stddef.h>

typedef struct lf_tail {
  uint8_t *buf;
  /** Bytes allocated; grows with the file up to cap, then stays: positions map to `offset % cap`. */
  uint64_t held;
  uint64_t cap;
  /** The file's size, and the lowest offset whose byte is still held: [low, size) is readable. */
  uint64_t size;
  uint64_t low;
  /** The buffer is `cap` bytes of the state (state.h), page-aligned, not malloc'd: it outlives the agent. */
  int external;
} lf_tail;

void lf_tail_init(lf_tail *t, uint64_t cap);
/**
 * A tail kept in `buf` (cap bytes, page-aligned, in the state): nothing is allocated, and freeing gives the pages
 * back. With `size` and `low` from a dead agent's record, its bytes read back as they were.
 */
void lf_tail_init_external(lf_tail *t, uint8_t *buf, uint64_t cap, uint64_t size, uint64_t low);
void lf_tail_free(lf_tail *t);
/** 0, or -ENOMEM when the buffer could not grow (nothing changed then). */
int lf_tail_write(lf_tail *t, uint64_t offset, const uint8_t *bytes, uint64_t len);
int lf_tail_truncate(lf_tail *t, uint64_t size);
/** Copies [offset, offset + len) into `into`, zeros outside the held window; returns the bytes read. */
uint64_t lf_tail_read(const lf_tail *t, uint64_t offset, uint8_t *into, uint64_t len);

#endif
