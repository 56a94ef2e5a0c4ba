// See flusher.h.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "flusher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "writeback.h"

/** After the seal, rounds of syncs that bring the rest of cut lines: this far apart, at most this long. */
#define ROUND_MS 20
#define ROUNDS_MAX_MS 1000
/** Rounds in a row that complete no line before the seal gives up on the lines still open. */
#define IDLE_ROUNDS 3

/** The mount's count of requests not yet answered (fusectl's `waiting`), or -1 when it cannot be read. */
static long unanswered(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  char path[80];
  // fusectl names a connection by the kernel's dev_t: major << 20 | minor.
  snprintf(path, sizeof path, "/sys/fs/fuse/connections/%u/waiting",
    (unsigned) (major(st.st_dev) << 20 | minor(st.st_dev)));
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  long n = -1;
  if (fscanf(f, "%ld", &n) != 1) n = -1;
  fclose(f);
  return n;
}

/**
 * syncfs on a FUSE mount queues the writeback of every dirty page but does not wait for those writes: the kernel
 * waits for them (fuse_sync_fs_writes) only on connections with sync_fs set, which it sets for fuseblk mounts
 * alone. A gap is proved real only once they are answered, so this waits, up to `max_ms`, for the connection to
 * have no request unanswered. True when it had none (or cannot tell, with no fusectl mounted: as before).
 * Seen without it: a 128 KiB write behind a gap came after the gap was taken as real, and was dropped as
 * already shipped (test/writeback.test.ts, umount after four writers' burst, 1 run in 3).
 */
static int all_answered(int fd, unsigned max_ms) {
  for (unsigned waited = 0; waited < max_ms; waited++) {
    long n = unanswered(fd);
    if (n <= 0) return 1;
    usleep(1000);
  }
  return 0;
}

/** Syncs the mount and, once every write that sync queued is answered, ships what waited for a gap it proved real. */
static int sync_mount(lf_intake *ix, int fd, unsigned max_ms) {
  double began = lf_wb_now();
  syncfs(fd);
  if (!all_answered(fd, max_ms)) return 0;
  lf_wb_expire(ix, began);
  return 1;
}

static int open_root(const char *mountpoint) { return open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC); }

static void *flush_main(void *arg) {
  lf_flusher *fl = arg;
  int fd = open_root(fl->mountpoint);
  pthread_mutex_lock(&fl->mu);
  while (fl->running) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += (long) fl->every_ms * 1000000L;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&fl->cv, &fl->mu, &deadline);
    if (!fl->running) break;
    pthread_mutex_unlock(&fl->mu);
    if (fd >= 0) sync_mount(fl->intake, fd, 2000);
    pthread_mutex_lock(&fl->mu);
  }
  pthread_mutex_unlock(&fl->mu);
  if (fd >= 0) close(fd);
  return NULL;
}

int lf_flusher_start(lf_flusher *fl, const char *mountpoint, unsigned every_ms, lf_intake *ix) {
  memset(fl, 0, sizeof *fl);
  fl->intake = ix;
  fl->every_ms = every_ms;
  fl->mountpoint = strdup(mountpoint);
  if (fl->mountpoint == NULL) return ENOMEM;
  pthread_mutex_init(&fl->mu, NULL);
  pthread_cond_init(&fl->cv, NULL);
  fl->running = 1;
  int rc = pthread_create(&fl->thread, NULL, flush_main, fl);
  fl->started = rc == 0;
  return rc;
}

void lf_flusher_stop(lf_flusher *fl) {
  if (!fl->started) return;
  pthread_mutex_lock(&fl->mu);
  fl->running = 0;
  pthread_cond_signal(&fl->cv);
  pthread_mutex_unlock(&fl->mu);
  pthread_join(fl->thread, NULL);
  fl->started = 0;
}

void lf_flusher_seal(lf_flusher *fl, unsigned max_ms) {
  lf_flusher_stop(fl);
  int fd = fl->mountpoint != NULL ? open_root(fl->mountpoint) : -1;
  double began = lf_wb_now();
  // Every page dirty now is sent by this sync; once its writes are answered, all of them are in the rings or
  // waiting for a gap that is real, and the pieces that waited since are bytes written after the stop began.
  if (fd >= 0) sync_mount(fl->intake, fd, max_ms);
  lf_wb_seal(fl->intake, began, LF_CLOSING);
  // A write() being copied into the page cache during that sync can leave the sync a page that ends inside a
  // line; the rest of the line is in pages dirtied since, which only another sync brings. These syncs prove no
  // gap: a gap left now may be a refusal.
  uint64_t open = lf_wb_open_lines();
  for (unsigned spent = 0, idle = 0; fd >= 0 && open > 0 && idle < IDLE_ROUNDS && spent < ROUNDS_MAX_MS;
       spent += ROUND_MS) {
    usleep(ROUND_MS * 1000);
    syncfs(fd);
    all_answered(fd, ROUNDS_MAX_MS);
    uint64_t now = lf_wb_open_lines();
    idle = now < open ? 0 : idle + 1;
    open = now;
  }
  lf_wb_seal(fl->intake, began, LF_CLOSED);
  if (fd >= 0) close(fd);
}
