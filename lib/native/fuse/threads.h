// The FUSE threads that read requests and answer writes and reads (threads.c).
#ifndef LOGFS_THREADS_H
#define LOGFS_THREADS_H

#include <pthread.h>
#include <stdint.h>

#include "state.h"

struct fuse_session;

typedef struct lf_threads {
  struct fuse_session *se;
  pthread_mutex_t mu;
  /** Threads alive, and those of them reading (or about to read) a request; under `mu`. */
  unsigned n_threads, n_reading;
  /** Threads ever started: each keeps its index, and with it its intent slot, for the life of the session. */
  unsigned n_started;
} lf_threads;

/** Starts serving `se`; its threads end when the session exits (fuse_session_exit). */
void lf_threads_start(lf_threads *t, struct fuse_session *se);

/**
 * The request this thread is handling (its id as the kernel sent it, FUSE_UNIQUE_RESEND included), and the
 * slot where it notes a write it takes (state.h). Thread-locals: libfuse hands an op its request without the
 * header, and only the thread that read the header knows it.
 */
extern __thread uint64_t lf_cur_unique;
extern __thread lf_intent *lf_my_intent;

#endif
