// The FUSE session: libfuse 3's low-level API, so logfs chooses the node IDs (its inode numbers; a restarted
// agent can answer for them) and writes and reads are answered here, on libfuse's threads. Every other op
// becomes an lf_call handed to JavaScript, which replies through the lf_reply_* functions from its own thread.
#ifndef LOGFS_SESSION_H
#define LOGFS_SESSION_H

#include <stdint.h>
#include <sys/types.h>

#include "flusher.h"
#include "intake.h"
#include "threads.h"

struct fuse_lowlevel_ops;

enum lf_op {
  LF_OP_LOOKUP = 1, LF_OP_FORGET, LF_OP_GETATTR, LF_OP_SETATTR, LF_OP_MKDIR, LF_OP_UNLINK, LF_OP_RMDIR,
  LF_OP_RENAME, LF_OP_OPEN, LF_OP_CREATE, LF_OP_RELEASE, LF_OP_FSYNC, LF_OP_READDIR
};

/** setattr's `valid` bits, as FUSE_SET_ATTR_* (the subset logfs acts on). */
enum lf_set {
  LF_SET_MODE = 1 << 0, LF_SET_UID = 1 << 1, LF_SET_GID = 1 << 2, LF_SET_SIZE = 1 << 3,
  LF_SET_ATIME = 1 << 4, LF_SET_MTIME = 1 << 5, LF_SET_ATIME_NOW = 1 << 7, LF_SET_MTIME_NOW = 1 << 8
};

/**
 * One op for JavaScript. `req` is libfuse's request (0 for FORGET and RELEASE, which are answered already).
 * Arguments by op:
 *   LOOKUP, UNLINK, RMDIR: ino = parent, name | FORGET: ino, a = nlookup | GETATTR: ino
 *   SETATTR: ino, a = valid (lf_set), b = mode, c = uid, d = gid, e = size, f = atime ms, g = mtime ms
 *   MKDIR: ino = parent, name, a = mode | RENAME: ino = parent, name, ino2 = new parent, name2, a = flags
 *   OPEN: ino, a = flags | CREATE: ino = parent, name, a = mode, b = flags | RELEASE: ino
 *   FSYNC: ino, a = datasync | READDIR: ino, a = size, b = offset
 * Names are checked to be UTF-8 before they get here (EILSEQ otherwise) and NUL-terminated.
 */
typedef struct lf_call {
  int op;
  /** The kernel sent this request again after the agent that first got it died (state.h): it may be done. */
  int resent;
  void *req;
  uint64_t ino, ino2;
  char *name, *name2;
  double a, b, c, d, e, f, g;
} lf_call;

typedef struct lf_session_options {
  const char *mountpoint;
  /**
   * A /dev/fuse descriptor the supervisor holds across agents (-1: none, libfuse mounts on its own). Without
   * `takeover` this agent mounts it; with it, the mount exists and a dead agent served it (state.h).
   */
  int fuse_fd;
  int takeover;
  /** The kernel's writeback cache (FUSE_CAP_WRITEBACK_CACHE), with a flusher every flush_ms. */
  int writeback;
  unsigned flush_ms;
  unsigned max_write;
  /** Seconds the kernel may cache names and attributes. */
  double cache_s;
  /** Called on a FUSE thread; the receiver owns the call (lf_call_free) and must reply to call->req. */
  void (*dispatch)(lf_call *call, void *arg);
  void *dispatch_arg;
} lf_session_options;

/** Attributes for a reply. For a file with an entry in files.h, its size and mtime come from there. */
typedef struct lf_attr {
  uint64_t ino;
  uint32_t mode, nlink, uid, gid;
  uint64_t size;
  double atime, mtime, ctime;
} lf_attr;

/**
 * The session's state: one per process. FUSE callbacks reach it as fuse_req_userdata(req) (ops.c, reply.c), as
 * libfuse's own examples do; the lf_session_* calls, which come from N-API without a pointer of ours, through
 * session.c's instance.
 */
typedef struct lf_session {
  struct fuse_session *se;
  lf_session_options opts;
  lf_intake *intake;
  lf_flusher flusher;
  lf_threads threads;
  /** lf_session_counts: names refused as not UTF-8, writes and reads answered. */
  uint64_t n_refused, n_writes, n_reads;
} lf_session;

/** The ops libfuse calls (ops.c), with the session as its userdata. */
extern const struct fuse_lowlevel_ops lf_session_ops;

/**
 * Mounts (or takes over the mount) and starts serving on libfuse threads; 0, or -1 with a message in `error`.
 * One mount per process. Needs the state open (state.h).
 */
int lf_session_start(const lf_session_options *o, lf_intake *intake, char *error, size_t error_len);
/**
 * Writeback mode, the first step of a stop: ends the flusher, brings every dirty page written before the call
 * into the rings, and ends each file's stream at a line boundary, refusing later pages (flusher.h). Never on the
 * JS thread: those writes may wait for ring space that only JS frees.
 */
void lf_session_seal(unsigned max_ms);
/**
 * Writeback mode, before a handover: ends the flusher (flusher.h, lf_flusher_stop) and leaves the mount and its
 * streams as they are for the next agent. The argument is unused (the shape of a blocking call). Not on the JS
 * thread, as for lf_session_seal.
 */
void lf_session_quiesce(unsigned unused);
/**
 * Unmounts (lazily: files still open keep being served until closed or the process ends). In writeback mode,
 * only after lf_session_seal: no thread of this process may sync a mount it no longer serves.
 */
void lf_session_stop(void);
/** Counters of the C side: names refused as not UTF-8, writes and reads answered, writeback bytes out of order. */
void lf_session_counts(double *refused_names, double *writes, double *reads, double *reorder_bytes);

void lf_call_free(lf_call *call);
void lf_reply_err(void *req, int errno_);
void lf_reply_entry(void *req, const lf_attr *attr);
void lf_reply_attr(void *req, const lf_attr *attr);
void lf_reply_open(void *req, uint64_t fh);
void lf_reply_create(void *req, const lf_attr *attr, uint64_t fh);
/** readdir: entries from `offset` that fit in `size`, each named with its inode and mode. */
void lf_reply_dir(void *req, size_t size, off_t offset, uint32_t count, const char *const *names,
  const uint64_t *inos, const uint32_t *modes);

#endif
