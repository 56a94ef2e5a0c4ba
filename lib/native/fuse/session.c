// The session's life (see session.h): mount or take over, serve, seal, stop.
#include "session.h"

#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "state.h"
#include "takeover.h"
#include "writeback.h"

/**
 * The one session of the process (one mount per process). N-API calls (lf_session_*) carry no pointer of ours
 * and reach it here; FUSE callbacks get it from the request (fuse_req_userdata).
 */
static lf_session current;

int lf_session_start(const lf_session_options *o, lf_intake *ix, char *error, size_t error_len) {
  lf_session *s = &current;
  if (s->se != NULL) {
    snprintf(error, error_len, "this process already serves a mount (one per process)");
    return -1;
  }
  s->opts = *o;
  s->opts.mountpoint = strdup(o->mountpoint);
  s->intake = ix;
  char *argv[] = { "logfs", "-o", "allow_other,default_permissions,fsname=logfs,subtype=logfs", NULL };
  struct fuse_args args = FUSE_ARGS_INIT(3, argv);
  s->se = fuse_session_new(&args, &lf_session_ops, sizeof lf_session_ops, s);
  if (s->se == NULL) {
    snprintf(error, error_len, "libfuse could not create a session");
    return -1;
  }
  const lf_session_options *so = &s->opts;
  if (so->fuse_fd >= 0 ? lf_takeover_serve(s->se, so->fuse_fd, so->takeover, so->mountpoint, error, error_len) != 0
      : fuse_session_mount(s->se, so->mountpoint) != 0) {
    if (so->fuse_fd < 0) snprintf(error, error_len, "mount failed (libfuse 3 mounts as root, or through fusermount3)");
    fuse_session_destroy(s->se);
    s->se = NULL;
    return -1;
  }
  lf_state()->mounted = 1;
  lf_threads_start(&s->threads, s->se);
  if (so->writeback) {
    // all_answered reads fusectl; a container's /sys lacks it unless mounted there (privileged, as the DaemonSet
    // is). Already mounted (EBUSY) or not allowed: nothing to do.
    mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, NULL);
    lf_flusher_start(&s->flusher, so->mountpoint, so->flush_ms, s->intake);
  }
  return 0;
}

void lf_session_seal(unsigned max_ms) {
  if (current.se != NULL && current.opts.writeback) lf_flusher_seal(&current.flusher, max_ms);
}

void lf_session_quiesce(unsigned unused) {
  (void) unused;
  if (current.se != NULL && current.opts.writeback) lf_flusher_stop(&current.flusher);
}

void lf_session_stop(void) {
  if (current.se == NULL) return;
  fuse_session_exit(current.se);
  // The session is not destroyed: JS may still answer requests it holds, and libfuse frees a request's session
  // with it. One mount per process, so this leaks nothing that matters.
  if (current.opts.fuse_fd >= 0) umount2(current.opts.mountpoint, MNT_DETACH);
  else fuse_session_unmount(current.se);
}

void lf_session_counts(double *refused_names, double *writes, double *reads, double *reorder_bytes) {
  *reorder_bytes = (double) lf_wb_waiting_bytes();
  *refused_names = (double) __atomic_load_n(&current.n_refused, __ATOMIC_RELAXED);
  *writes = (double) __atomic_load_n(&current.n_writes, __ATOMIC_RELAXED);
  *reads = (double) __atomic_load_n(&current.n_reads, __ATOMIC_RELAXED);
}
