// The files of the mount as the write path sees them, by inode number (which is also the FUSE node ID and the
// file handle): each with its readable tail, its size and mtime, and the source its writes ship to. JS creates
// and frees entries (metadata ops stay in TypeScript); FUSE threads look them up without a lock.
#ifndef LOGFS_FILES_H
#define LOGFS_FILES_H

#include <pthread.h>
#include <stdint.h>

#include "intake.h"
#include "tail.h"

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
  /** NULL: kept in memory, never shipped (rotated copies, --local-only). */
  lf_source *source;
  /**
   * Writeback mode: the file offset up to which bytes have gone to the ring. The kernel re-sends a dirty page
   * whole, so bytes below this are not shipped again. Guarded by ship_mu, which a FUSE thread holds
   * while it waits for ring space; JS never takes it (a truncate posts `lower_to` instead).
   */
  uint64_t shipped;
  pthread_mutex_t ship_mu;
  /** Requests that came ahead of the bytes before them (writeback.c), sorted by offset. Under ship_mu. */
  void *pending;
  /** Writeback mode: the bytes shipped so far end inside a line (writeback.c counts such files for a stop). */
  int line_open;
  /** A truncate's new size for `shipped` (if lower), taken by the next write; -1 when none. */
  int64_t lower_to;
  /** Where the size, mtime and shipped offset are mirrored for the next agent; NULL when nowhere. */
  lf_file_rec *rec;
  /** On writeback.c's list of files with pending bytes; removed from the table meanwhile (it frees the file). */
  int in_registry, orphan;
} lf_file;

/**
 * Makes (or replaces) the entry for `ino`; -ENOMEM or -EINVAL on failure. `tail_buf` (tail_cap bytes, in the
 * state) holds its tail, or NULL for a malloc'd one. With `restore`, the file is one a dead agent served: size,
 * mtime, shipped offset and tail come back from `rec` and `tail_buf`.
 */
int lf_files_add(uint64_t ino, lf_source *source, uint64_t tail_cap, lf_file_rec *rec, int restore,
  uint8_t *tail_buf);
lf_file *lf_files_get(uint64_t ino);
/** Frees a file that is out of the table. */
void lf_file_free(lf_file *f);
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
