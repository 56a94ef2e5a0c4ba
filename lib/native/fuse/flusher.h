// Writeback mode's flusher and the stop's seal. Dirty pages reach logfs only at writeback (up to
// dirty_expire_centisecs, 30 s), fsync or close, so a thread syncs the mount every `every_ms` to bound delivery
// latency. A sync waits for writes that may wait for ring space, which only JS frees: neither the flusher nor the
// seal runs on the JS thread. Both sync the mount they are part of, so both must be over before the session stops
// serving it: a sync of a mount nobody serves never ends, its thread sits in state D, and the process with it
// can never exit.
#ifndef LOGFS_FLUSHER_H
#define LOGFS_FLUSHER_H

#include <pthread.h>

#include "intake.h"

typedef struct lf_flusher {
  lf_intake *intake;
  char *mountpoint;
  unsigned every_ms;
  pthread_t thread;
  /** The thread was started and not joined yet. */
  int started;
  /** Cleared, under `mu`, to end the thread; `cv` wakes it. */
  int running;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} lf_flusher;

/** Starts the flusher thread of the mount at `mountpoint`; 0 or a positive errno. */
int lf_flusher_start(lf_flusher *fl, const char *mountpoint, unsigned every_ms, lf_intake *ix);
/**
 * The stop's seal, while the session still serves: ends and joins the flusher thread, syncs the mount once more
 * and waits (up to `max_ms`) until every write that sync queued is answered, then closes the intake so that each
 * file's stream ends at a line boundary (writeback.h, lf_wb_seal); a few more syncs, within a second, bring the
 * rest of lines cut by that sync. Every byte written before the call is in the rings after it, unless the wait
 * ran out (those bytes stay counted as waiting). Blocks: never on the JS thread.
 */
void lf_flusher_seal(lf_flusher *fl, unsigned max_ms);
/**
 * Ends the flusher thread and waits for it; its sync in progress, if any, ends first (the session serves it). A
 * process must do this before it exits with the mount still served: a thread inside syncfs() cannot die until the
 * sync's writes are answered, and nobody answers them once this process's FUSE threads are gone.
 */
void lf_flusher_stop(lf_flusher *fl);

#endif
