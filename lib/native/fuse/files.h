// The files of the mount as the write path sees them, by inode number (which is also the FUSE node ID and the
// file handle): each with its readable tail, its size and mtime, and the source its writes ship to (writeback.h).
// JS creates and frees entries (metadata ops stay in TypeScript); FUSE threads look them up without a lock.
#ifndef LOGFS_FILES_H
#define LOGFS_FILES_H

#include <pthread.h>
#include <stdint.h>

#include "intake.h"
#include "tail.h"
#include "writeback.h"

/** What of a file outlives its agent (state.h): mirrored on every change, read back by a new agent. */
typedef struct lf_file_rec {
  uint64_t size;
  double mtime;
  uint64_t shipped;
  /** The lowest offset its tail still holds (tail.h). */
  uint64_t low;
} lf_file_rec;

typedef struct lf_file {
  /** Guards the tail, size and mtime; held only for a copy, never across a wait (JS takes it too). */
  pthread_mutex_t mu;
  lf_tail tail;
  /** Milliseconds since the epoch of the last write or truncate. */
  double mtime;
  /** Where the size, mtime and shipped offset are mirrored for the next agent; NULL when nowhere. */
  lf_file_rec *rec;
  /** Where its writes ship, and how far they went (writeback.h). */
  lf_wb_file wb;
} lf_file;

/**
 * Makes (or replaces) the entry for `ino`; -ENOMEM or -EINVAL on failure. `tail_buf` (tail_cap bytes, in the
 * state) holds its tail, or NULL for a malloc'd one. With `restore`, the file is one a dead agent served: size,
 * mtime, shipped offset and tail come back from `rec` and `tail_buf`.
 */
int lf_files_add(uint64_t ino, lf_source *source, uint64_t tail_cap, lf_file_rec *rec, int restore,
  uint8_t *tail_buf);
lf_file *lf_files_get(uint64_t ino);
/** Frees an entry; the caller guarantees no FUSE thread can still use it (node forgotten, handles released). */
void lf_files_remove(uint64_t ino);
/** Shows a write in the file (tail, size, mtime); 0 or -ENOMEM. */
int lf_file_write(lf_file *f, uint64_t offset, const uint8_t *bytes, uint64_t len, double now);
int lf_file_truncate(lf_file *f, uint64_t size, double now);
uint64_t lf_file_read(lf_file *f, uint64_t offset, uint8_t *into, uint64_t len);
/** The file's size and mtime, read together. */
void lf_file_state(lf_file *f, uint64_t *size, double *mtime);

/** Bytes held in tails, all files together. */
uint64_t lf_files_tail_bytes(void);

#endif
