// Writeback mode's side of the write path. With the kernel's writeback cache, logfs receives dirty pages rather
// than write() calls: the partial last page is sent again, whole, each time it is flushed, and pages do not come
// in file order (background writeback resumes where it stopped and wraps to the start; requests are answered
// on several threads). A file's stream must still go to the ring once, in file order, so:
//   - bytes below the file's shipped offset are not shipped again;
//   - a request that starts past the shipped offset is answered at once but its bytes wait here, copied, until
//     the bytes before them arrive. A gap still open after a sync of the whole mount that began after the bytes
//     arrived, once every request that sync queued is answered, is real (a seek past the end): such a sync writes
//     back every page dirty when it began, so the bytes before them would have come. Only then do they go.
//     (syncfs itself does not wait for FUSE writes: flusher.c's all_answered waits for them.)
//     (A timeout would not be safe: a request can be held up longer than any timeout while the ring is full.)
// A stop (flusher.h) seals the files once a last sync proved every byte written before it taken: each file's
// stream then ends at a line boundary. A file whose shipped bytes end inside a line still takes the rest of that
// line, cut after its newline; everything else is refused (EROFS, which the writer sees at fsync or close), and
// pieces waiting since that sync are dropped: they hold bytes written after the stop began.
#ifndef LOGFS_WRITEBACK_H
#define LOGFS_WRITEBACK_H

#include <pthread.h>
#include <stdint.h>

#include "intake.h"

/**
 * A file's shipping: where its bytes go and, in writeback mode, how far they went. Part of the file's entry
 * (files.h), which frees it through `release`.
 */
typedef struct lf_wb_file {
  /** The source the bytes ship to; NULL: kept in memory, never shipped (rotated copies, --local-only). */
  lf_source *source;
  /**
   * Writeback mode: the file offset up to which bytes have gone to the ring. The kernel re-sends a dirty page
   * whole, so bytes below this are not shipped again. Guarded by ship_mu, which a FUSE thread holds
   * while it waits for ring space; JS never takes it (a truncate posts `lower_to` instead).
   */
  uint64_t shipped;
  /** Where `shipped` is mirrored for the next agent (the file's slot in the state); NULL when nowhere. */
  uint64_t *shipped_rec;
  pthread_mutex_t ship_mu;
  /** Requests that came ahead of the bytes before them (writeback.c), sorted by offset. Under ship_mu. */
  struct lf_piece *pending;
  /** Writeback mode: the bytes shipped so far end inside a line (writeback.c counts such files for a stop). */
  int line_open;
  /** A truncate's new size for `shipped` (if lower), taken by the next write; -1 when none. */
  int64_t lower_to;
  /** On writeback.c's list of files with pending bytes; removed from the table meanwhile (it frees the file). */
  int in_registry, orphan;
  /** Frees the file this is part of, once it is out of the table and nothing of it waits here. */
  void (*release)(struct lf_wb_file *w);
} lf_wb_file;

void lf_wb_init(lf_wb_file *w, lf_source *source, uint64_t *shipped_rec, uint64_t shipped,
  void (*release)(lf_wb_file *w));
/** The file is freed: it no longer counts in lf_wb_open_lines. */
void lf_wb_destroy(lf_wb_file *w);
/** A truncate to `size`: the next write lowers the shipped offset to it, if it is lower. */
void lf_wb_truncate(lf_wb_file *w, uint64_t size);
/** Ships the new bytes of one writeback request of a shipped file; 0 or a negative errno. */
int lf_wb_write(lf_intake *ix, lf_wb_file *w, const uint8_t *buf, uint64_t size, uint64_t off);
/** A monotonic time in ms, for lf_wb_expire: take it just before a sync of the whole mount begins. */
double lf_wb_now(void);
/**
 * After a sync of the whole mount that began at `sync_began`: ships the waiting bytes of every file whose gap is
 * older than that sync, so real. Run after the sync, never by JS (it may wait for ring space).
 */
void lf_wb_expire(lf_intake *ix, double sync_began);
/**
 * The stop's seal: `level` LF_CLOSING right after a sync that began at `since` and whose writes were all
 * answered (files at a line boundary take nothing more, the others only the rest of their line), then
 * LF_CLOSED (nothing more at all). Drops the pieces that came since `since` of the files it closes.
 */
void lf_wb_seal(lf_intake *ix, double since, int level);
/** Files whose shipped bytes end inside a line. */
uint64_t lf_wb_open_lines(void);
/**
 * A file leaves the table, and its slot in the state goes to the next file: `shipped` is mirrored nowhere any more.
 * 1 when it still has waiting bytes, in which case lf_wb_expire ships them and releases the file; 0 when the
 * caller frees it.
 */
int lf_wb_detach(lf_wb_file *w);
/** Bytes waiting for the bytes before them, all files together. */
uint64_t lf_wb_waiting_bytes(void);

#endif
