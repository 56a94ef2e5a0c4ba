// The FUSE session (see session.h). Writes and reads are answered on the libfuse thread that received them:
// the bytes go into the tenant's ring (intake.c) and the file's tail (files.c) without waking JavaScript, which
// took three cross-thread wake-ups per write before. Metadata ops are queued to JavaScript and
// answered from there; the low-level API lets any thread reply, so no libfuse thread waits for JS.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define FUSE_USE_VERSION 34
#include "session.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "flusher.h"
#include "state.h"
#include "writeback.h"

// From the kernel's include/uapi/linux/fuse.h, protocol 7.40 (Linux 6.9); the headers installed here are 7.38.
/** Asks the kernel to send again every request a reader took and never answered. */
#define FUSE_NOTIFY_RESEND 7
/** Set in the id of a request sent again that way. */
#define FUSE_UNIQUE_RESEND (1ULL << 63)
#define FUSE_INIT 26
/** struct fuse_in_header, the start of every request. */
typedef struct in_header {
  uint32_t len, opcode;
  uint64_t unique, nodeid;
  uint32_t uid, gid, pid;
  uint16_t total_extlen, padding;
} in_header;

/** The request this thread is handling, and the slot where it notes a write it takes (state.h). */
static __thread uint64_t cur_unique;
static __thread lf_intent *my_intent;

static struct fuse_session *se;
static lf_session_options opts;
static lf_intake *intake;
static lf_flusher flusher;
static uint64_t n_refused, n_writes, n_reads;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

/** Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int valid_utf8(const unsigned char *s) {
  while (*s) {
    unsigned c = *s;
    int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
    if (n < 0 || (n == 1 && c < 0xc2) || (n == 3 && c > 0xf4)) return 0;
    unsigned cp = n == 0 ? c : c & (0x3fu >> n);
    for (int i = 1; i <= n; i++) {
      if ((s[i] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
      return 0;
    }
    s += n + 1;
  }
  return 1;
}

void lf_call_free(lf_call *call) {
  free(call->name);
  free(call->name2);
  free(call);
}

static lf_call *call_new(int op, fuse_req_t req, fuse_ino_t ino) {
  lf_call *c = calloc(1, sizeof *c);
  if (c == NULL) {
    if (req) fuse_reply_err(req, ENOMEM);
    return NULL;
  }
  c->op = op;
  c->resent = (cur_unique & FUSE_UNIQUE_RESEND) != 0;
  c->req = req;
  c->ino = ino;
  return c;
}

/**
 * Copies a name for JavaScript. A name that is not UTF-8 is refused with EILSEQ: source names travel as strings,
 * and decoding would turn different invalid bytes into the same U+FFFD, making two files one.
 */
static int set_name(lf_call *c, char **into, const char *name) {
  if (!valid_utf8((const unsigned char *) name)) {
    __atomic_add_fetch(&n_refused, 1, __ATOMIC_RELAXED);
    fuse_reply_err(c->req, EILSEQ);
    lf_call_free(c);
    return -1;
  }
  *into = strdup(name);
  if (*into == NULL) {
    fuse_reply_err(c->req, ENOMEM);
    lf_call_free(c);
    return -1;
  }
  return 0;
}

static void dispatch(lf_call *c) { opts.dispatch(c, opts.dispatch_arg); }

static void named(int op, fuse_req_t req, fuse_ino_t parent, const char *name, double a, double b) {
  lf_call *c = call_new(op, req, parent);
  if (c == NULL || set_name(c, &c->name, name) != 0) return;
  c->a = a;
  c->b = b;
  dispatch(c);
}

static void plain(int op, fuse_req_t req, fuse_ino_t ino, double a, double b) {
  lf_call *c = call_new(op, req, ino);
  if (c == NULL) return;
  c->a = a;
  c->b = b;
  dispatch(c);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  (void) userdata;
  conn->max_write = opts.max_write;
  if (opts.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  named(LF_OP_LOOKUP, req, parent, name, 0, 0);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  fuse_reply_none(req);
  plain(LF_OP_FORGET, NULL, ino, (double) nlookup, 0);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  fuse_reply_none(req);
  for (size_t i = 0; i < count; i++) plain(LF_OP_FORGET, NULL, forgets[i].ino, (double) forgets[i].nlookup, 0);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void) fi;
  plain(LF_OP_GETATTR, req, ino, 0, 0);
}

static double ms(struct timespec t) { return (double) t.tv_sec * 1000.0 + (double) t.tv_nsec / 1e6; }

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  (void) fi;
  lf_call *c = call_new(LF_OP_SETATTR, req, ino);
  if (c == NULL) return;
  c->a = to_set;
  c->b = attr->st_mode;
  c->c = attr->st_uid;
  c->d = attr->st_gid;
  c->e = (double) attr->st_size;
  c->f = ms(attr->st_atim);
  c->g = ms(attr->st_mtim);
  dispatch(c);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  named(LF_OP_MKDIR, req, parent, name, mode, 0);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  named(LF_OP_UNLINK, req, parent, name, 0, 0);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  named(LF_OP_RMDIR, req, parent, name, 0, 0);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
  const char *newname, unsigned int flags) {
  lf_call *c = call_new(LF_OP_RENAME, req, parent);
  if (c == NULL || set_name(c, &c->name, name) != 0) return;
  if (set_name(c, &c->name2, newname) != 0) return;
  c->ino2 = newparent;
  c->a = flags;
  dispatch(c);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  plain(LF_OP_OPEN, req, ino, fi->flags, 0);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  named(LF_OP_CREATE, req, parent, name, mode, fi->flags);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void) fi;
  fuse_reply_err(req, 0);
  plain(LF_OP_RELEASE, NULL, ino, 0, 0);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void) ino;
  (void) fi;
  fuse_reply_err(req, 0);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  (void) fi;
  plain(LF_OP_FSYNC, req, ino, datasync, 0);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void) fi;
  plain(LF_OP_READDIR, req, ino, (double) size, (double) off);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) {
  (void) ino;
  // The disk is as large as the server behind it; report the largest sizes FUSE can carry.
  struct statvfs st = {
    .f_bsize = 4096, .f_frsize = 4096, .f_blocks = 0xffffffff, .f_bfree = 0xffffffff, .f_bavail = 0xffffffff,
    .f_files = 0xffffffff, .f_ffree = 0xffffffff, .f_favail = 0xffffffff, .f_namemax = 255,
  };
  fuse_reply_statfs(req, &st);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
  struct fuse_file_info *fi) {
  (void) fi;
  lf_file *f = lf_files_get(ino);
  if (f == NULL) {
    fuse_reply_err(req, EBADF);
    return;
  }
  const uint8_t *bytes = (const uint8_t *) buf;
  int rc = 0;
  uint64_t unique = cur_unique & ~FUSE_UNIQUE_RESEND;
  lf_intent *w = my_intent;
  // Not shipped, or sent again after the agent that took it died with its bytes already in the ring: no bytes go.
  int ships = f->source != NULL && !((cur_unique & FUSE_UNIQUE_RESEND) && lf_state_resend_done(unique));
  if (ships) {
    // Until the answer is out, the state says which write this thread holds and (intake.c) where its bytes went.
    if (w != NULL) {
      w->unique = unique;
      w->source = f->source->id;
      w->cursor = LF_NO_CURSOR;
      __atomic_store_n(&w->armed, 1, __ATOMIC_RELEASE);
      lf_intake_mark = &w->cursor;
    }
    rc = opts.writeback ? lf_wb_write(intake, f, bytes, size, (uint64_t) off) : lf_intake_write(intake, f->source, bytes, size, LF_WAIT);
    lf_intake_mark = NULL;
  }
  if (rc == 0) rc = lf_file_write(f, (uint64_t) off, bytes, size, now_ms());
  __atomic_add_fetch(&n_writes, 1, __ATOMIC_RELAXED);
  if (rc < 0) fuse_reply_err(req, -rc);
  else fuse_reply_write(req, size);
  if (w != NULL) __atomic_store_n(&w->armed, 0, __ATOMIC_RELEASE);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void) fi;
  lf_file *f = lf_files_get(ino);
  if (f == NULL) {
    fuse_reply_err(req, EBADF);
    return;
  }
  uint8_t *buf = malloc(size ? size : 1);
  if (buf == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  uint64_t n = lf_file_read(f, (uint64_t) off, buf, size);
  __atomic_add_fetch(&n_reads, 1, __ATOMIC_RELAXED);
  fuse_reply_buf(req, (const char *) buf, n);
  free(buf);
}

static const struct fuse_lowlevel_ops ops = {
  .init = ll_init, .lookup = ll_lookup, .forget = ll_forget, .forget_multi = ll_forget_multi,
  .getattr = ll_getattr, .setattr = ll_setattr, .mkdir = ll_mkdir, .unlink = ll_unlink, .rmdir = ll_rmdir,
  .rename = ll_rename, .open = ll_open, .create = ll_create, .release = ll_release, .flush = ll_flush,
  .fsync = ll_fsync, .readdir = ll_readdir, .statfs = ll_statfs, .write = ll_write, .read = ll_read,
};

/**
 * The FUSE threads. Our own loop rather than fuse_session_loop_mt: libfuse 3.14's destroys and re-creates worker
 * threads as they go idle and busy, a thread start per request with one writer (measured: 5-10k writes/s against
 * 40k for a libfuse 2 loop). Here a thread that takes a request while no other is waiting to read starts one
 * more, so one is always reading; threads never exit before the session ends. Writers of a full ring under the
 * block policy hold a thread each while they wait, so the count is bounded only by MAX_THREADS.
 */
#define MAX_THREADS 1024
static unsigned n_threads, n_reading;
static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;

static void start_worker(void);
/** Threads ever started: each keeps its index, and with it its intent slot, for the life of the session. */
static unsigned n_started;

static void *worker_main(void *arg) {
  my_intent = lf_state_intent((unsigned) (uintptr_t) arg);
  struct fuse_buf buf = { .mem = NULL };
  while (!fuse_session_exited(se)) {
    int n = fuse_session_receive_buf(se, &buf);
    pthread_mutex_lock(&threads_mu);
    n_reading--;
    int more = n_reading == 0 && n_threads < MAX_THREADS;
    if (more) {
      n_threads++;
      n_reading++;
    }
    pthread_mutex_unlock(&threads_mu);
    if (more) start_worker();
    if (n == -EINTR || n == -EAGAIN) {
      // Interrupted before a request arrived: read again.
    } else if (n <= 0) {
      // ENODEV: the filesystem was unmounted and the connection ended.
      fuse_session_exit(se);
    } else {
      const in_header *h = !(buf.flags & FUSE_BUF_IS_FD) && (size_t) n >= sizeof *h ? buf.mem : NULL;
      cur_unique = h ? h->unique : 0;
      // The first agent keeps INIT for the ones after it, which must answer as the same session.
      if (h && h->opcode == FUSE_INIT) lf_state_keep_init(buf.mem, (size_t) n);
      fuse_session_process_buf(se, &buf);
      cur_unique = 0;
    }
    pthread_mutex_lock(&threads_mu);
    n_reading++;
    pthread_mutex_unlock(&threads_mu);
  }
  free(buf.mem);
  return NULL;
}

static void start_worker(void) {
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
  unsigned index = __atomic_fetch_add(&n_started, 1, __ATOMIC_RELAXED);
  if (pthread_create(&thread, &attr, worker_main, (void *) (uintptr_t) index) != 0) {
    pthread_mutex_lock(&threads_mu);
    n_threads--;
    n_reading--;
    pthread_mutex_unlock(&threads_mu);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

/**
 * The supervisor's /dev/fuse descriptor: mounted here the first time; after that the mount exists and the
 * kernel holds requests a dead agent took. libfuse refuses every request before INIT, which only the first agent
 * got: its INIT is replayed (the answer goes nowhere: the kernel has no such request any more). Then the kernel
 * is asked to send again what the dead agent never answered.
 */
static int serve_fd(char *error, size_t error_len) {
  char dev[32];
  snprintf(dev, sizeof dev, "/dev/fd/%d", opts.fuse_fd);
  if (!opts.takeover) {
    char o[160];
    snprintf(o, sizeof o, "fd=%d,rootmode=40000,user_id=%u,group_id=%u,allow_other,default_permissions",
      opts.fuse_fd, (unsigned) getuid(), (unsigned) getgid());
    if (mount("logfs", opts.mountpoint, "fuse.logfs", MS_NOSUID | MS_NODEV, o) != 0) {
      snprintf(error, error_len, "mount: %s", strerror(errno));
      return -1;
    }
  }
  if (fuse_session_mount(se, dev) != 0) {
    snprintf(error, error_len, "libfuse does not take the descriptor %s", dev);
    return -1;
  }
  if (!opts.takeover) return 0;
  lf_state_header *h = lf_state();
  uint32_t len = __atomic_load_n(&h->init_len, __ATOMIC_ACQUIRE);
  if (len == 0) {
    snprintf(error, error_len, "the agent before died before the kernel's INIT was kept");
    return -1;
  }
  char *init = malloc(len);
  if (init == NULL) {
    snprintf(error, error_len, "out of memory");
    return -1;
  }
  memcpy(init, h->init, len);
  struct fuse_buf b = { .size = len, .mem = init };
  fuse_session_process_buf(se, &b);
  free(init);
  const struct { uint32_t len; int32_t error; uint64_t unique; } resend = { 16, FUSE_NOTIFY_RESEND, 0 };
  if (write(opts.fuse_fd, &resend, sizeof resend) != (ssize_t) sizeof resend) {
    snprintf(error, error_len, "the kernel refused FUSE_NOTIFY_RESEND (Linux 6.9 or later has it): %s",
      strerror(errno));
    return -1;
  }
  return 0;
}

int lf_session_start(const lf_session_options *o, lf_intake *ix, char *error, size_t error_len) {
  if (se != NULL) {
    snprintf(error, error_len, "this process already serves a mount (one per process)");
    return -1;
  }
  opts = *o;
  opts.mountpoint = strdup(o->mountpoint);
  intake = ix;
  char *argv[] = { "logfs", "-o", "allow_other,default_permissions,fsname=logfs,subtype=logfs", NULL };
  struct fuse_args args = FUSE_ARGS_INIT(3, argv);
  se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (se == NULL) {
    snprintf(error, error_len, "libfuse could not create a session");
    return -1;
  }
  if (opts.fuse_fd >= 0 ? serve_fd(error, error_len) != 0 : fuse_session_mount(se, opts.mountpoint) != 0) {
    if (opts.fuse_fd < 0) snprintf(error, error_len, "mount failed (libfuse 3 mounts as root, or through fusermount3)");
    fuse_session_destroy(se);
    se = NULL;
    return -1;
  }
  lf_state()->mounted = 1;
  n_threads = n_reading = 2;
  start_worker();
  start_worker();
  if (opts.writeback) {
    // all_answered reads fusectl; a container's /sys lacks it unless mounted there (privileged, as the DaemonSet
    // is). Already mounted (EBUSY) or not allowed: nothing to do.
    mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, NULL);
    lf_flusher_start(&flusher, opts.mountpoint, opts.flush_ms, intake);
  }
  return 0;
}

void lf_session_seal(unsigned max_ms) {
  if (se != NULL && opts.writeback) lf_flusher_seal(&flusher, max_ms);
}

void lf_session_quiesce(unsigned unused) {
  (void) unused;
  if (se != NULL && opts.writeback) lf_flusher_stop(&flusher);
}

void lf_session_stop(void) {
  if (se == NULL) return;
  fuse_session_exit(se);
  // The session is not destroyed: JS may still answer requests it holds, and libfuse frees a request's session
  // with it. One mount per process, so this leaks nothing that matters.
  if (opts.fuse_fd >= 0) umount2(opts.mountpoint, MNT_DETACH);
  else fuse_session_unmount(se);
}

void lf_session_counts(double *refused_names, double *writes, double *reads, double *reorder_bytes) {
  *reorder_bytes = (double) lf_wb_waiting_bytes();
  *refused_names = (double) __atomic_load_n(&n_refused, __ATOMIC_RELAXED);
  *writes = (double) __atomic_load_n(&n_writes, __ATOMIC_RELAXED);
  *reads = (double) __atomic_load_n(&n_reads, __ATOMIC_RELAXED);
}

static void fill_stat(struct stat *st, const lf_attr *a) {
  memset(st, 0, sizeof *st);
  st->st_ino = a->ino;
  st->st_mode = a->mode;
  st->st_nlink = a->nlink;
  st->st_uid = a->uid;
  st->st_gid = a->gid;
  st->st_size = (off_t) a->size;
  double mtime = a->mtime;
  double ctime = a->ctime;
  lf_file *f = S_ISREG(a->mode) ? lf_files_get(a->ino) : NULL;
  if (f != NULL) {
    uint64_t size;
    double written;
    lf_file_state(f, &size, &written);
    st->st_size = (off_t) size;
    if (written > mtime) mtime = written;
    if (written > ctime) ctime = written;
  }
  st->st_blksize = opts.max_write;
  st->st_blocks = (st->st_size + 511) / 512;
  const double times[3] = { a->atime, mtime, ctime };
  struct timespec *into[3] = { &st->st_atim, &st->st_mtim, &st->st_ctim };
  for (int i = 0; i < 3; i++) {
    into[i]->tv_sec = (time_t) (times[i] / 1000);
    into[i]->tv_nsec = (long) ((times[i] - (double) into[i]->tv_sec * 1000) * 1e6);
  }
}

static void fill_entry(struct fuse_entry_param *e, const lf_attr *a) {
  memset(e, 0, sizeof *e);
  e->ino = a->ino;
  e->generation = 1;
  e->attr_timeout = opts.cache_s;
  e->entry_timeout = opts.cache_s;
  fill_stat(&e->attr, a);
}

void lf_reply_err(void *req, int errno_) { fuse_reply_err(req, errno_); }

void lf_reply_entry(void *req, const lf_attr *attr) {
  struct fuse_entry_param e;
  fill_entry(&e, attr);
  fuse_reply_entry(req, &e);
}

void lf_reply_attr(void *req, const lf_attr *attr) {
  struct stat st;
  fill_stat(&st, attr);
  fuse_reply_attr(req, &st, opts.cache_s);
}

void lf_reply_open(void *req, uint64_t fh) {
  struct fuse_file_info fi = { .fh = fh };
  fuse_reply_open(req, &fi);
}

void lf_reply_create(void *req, const lf_attr *attr, uint64_t fh) {
  struct fuse_entry_param e;
  fill_entry(&e, attr);
  struct fuse_file_info fi = { .fh = fh };
  fuse_reply_create(req, &e, &fi);
}

void lf_reply_dir(void *req, size_t size, off_t offset, uint32_t count, const char *const *names,
  const uint64_t *inos, const uint32_t *modes) {
  char *buf = malloc(size ? size : 1);
  if (buf == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  size_t used = 0;
  for (uint32_t i = (uint32_t) offset; i < count; i++) {
    struct stat st = { .st_ino = inos[i], .st_mode = modes[i] };
    size_t n = fuse_add_direntry(req, buf + used, size - used, names[i], &st, (off_t) i + 1);
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}
