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

#include <stdint.h>

#include "files.h"
#include "intake.h"

/** Ships the new bytes of one writeback request of a shipped file; 0 or a negative errno. */
int lf_wb_write(lf_intake *ix, lf_file *f, const uint8_t *buf, uint64_t size, uint64_t off);
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
/** A file is freed (files.c): it no longer counts in lf_wb_open_lines. */
void lf_wb_forget(lf_file *f);
/**
 * A file leaves the table: 1 when it still has waiting bytes, in which case lf_wb_expire ships them and frees
 * the file; 0 when the caller frees it.
 */
int lf_wb_detach(lf_file *f);
/** Bytes waiting for the bytes before them, all files together. */
uint64_t lf_wb_waiting_bytes(void);

#endif
