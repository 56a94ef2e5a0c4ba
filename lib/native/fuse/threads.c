// The FUSE threads. Our own loop rather than fuse_session_loop_mt: libfuse 3.14's destroys and re-creates worker
// threads as they go idle and busy, a thread start per request with one writer (measured: 5-10k writes/s against
// 40k for a libfuse 2 loop). Here a thread that takes a request while no other is waiting to read starts one
// more, so one is always reading; threads never exit before the session ends. Writers of a full ring under the
// block policy hold a thread each while they wait, so the count is bounded only by MAX_THREADS.
#include "threads.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdlib.h>

#include "fuse_abi.h"

#define MAX_THREADS 1024

__thread uint64_t lf_cur_unique;
__thread lf_intent *lf_my_intent;

static void start_worker(lf_threads *t);

static void *worker_main(void *arg) {
  lf_threads *t = arg;
  struct fuse_session *se = t->se;
  lf_my_intent = lf_state_intent(__atomic_fetch_add(&t->n_started, 1, __ATOMIC_RELAXED));
  struct fuse_buf buf = { .mem = NULL };
  while (!fuse_session_exited(se)) {
    int n = fuse_session_receive_buf(se, &buf);
    pthread_mutex_lock(&t->mu);
    t->n_reading--;
    int more = t->n_reading == 0 && t->n_threads < MAX_THREADS;
    if (more) {
      t->n_threads++;
      t->n_reading++;
    }
    pthread_mutex_unlock(&t->mu);
    if (more) start_worker(t);
    if (n == -EINTR || n == -EAGAIN) {
      // Interrupted before a request arrived: read again.
    } else if (n <= 0) {
      // ENODEV: the filesystem was unmounted and the connection ended.
      fuse_session_exit(se);
    } else {
      const in_header *h = !(buf.flags & FUSE_BUF_IS_FD) && (size_t) n >= sizeof *h ? buf.mem : NULL;
      lf_cur_unique = h ? h->unique : 0;
      // The first agent keeps INIT for the ones after it, which must answer as the same session.
      if (h && h->opcode == FUSE_INIT) lf_state_keep_init(buf.mem, (size_t) n);
      fuse_session_process_buf(se, &buf);
      lf_cur_unique = 0;
    }
    pthread_mutex_lock(&t->mu);
    t->n_reading++;
    pthread_mutex_unlock(&t->mu);
  }
  free(buf.mem);
  return NULL;
}

static void start_worker(lf_threads *t) {
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  // A FUSE thread needs little stack: the request buffer is on the heap.
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // Signals go to the JS thread, never to a FUSE thread.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (pthread_create(&thread, &attr, worker_main, t) != 0) {
    pthread_mutex_lock(&t->mu);
    t->n_threads--;
    t->n_reading--;
    pthread_mutex_unlock(&t->mu);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

void lf_threads_start(lf_threads *t, struct fuse_session *se) {
  t->se = se;
  pthread_mutex_init(&t->mu, NULL);
  t->n_threads = t->n_reading = 2;
  start_worker(t);
  start_worker(t);
}
