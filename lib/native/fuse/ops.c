// The op table (see session.h). Writes and reads are answered on the libfuse thread that received them: the
// bytes go into the tenant's ring (intake.c) and the file's tail (files.c) without waking JavaScript, which took
// three cross-thread wake-ups per write before. Every other op is queued to JavaScript and answered from there;
// the low-level API lets any thread reply, so no libfuse thread waits for JS. Each op finds the session as
// fuse_req_userdata(req).
#include "session.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "files.h"
#include "fuse_abi.h"
#include "state.h"
#include "threads.h"
#include "writeback.h"

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
  c->resent = (lf_cur_unique & FUSE_UNIQUE_RESEND) != 0;
  c->req = req;
  c->ino = ino;
  return c;
}

/**
 * Copies a name for JavaScript. A name that is not UTF-8 is refused with EILSEQ: source names travel as strings,
 * and decoding would turn different invalid bytes into the same U+FFFD, making two files one.
 */
static int set_name(lf_session *s, lf_call *c, char **into, const char *name) {
  if (!valid_utf8((const unsigned char *) name)) {
    __atomic_add_fetch(&s->n_refused, 1, __ATOMIC_RELAXED);
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

static void dispatch(lf_session *s, lf_call *c) { s->opts.dispatch(c, s->opts.dispatch_arg); }

static void named(int op, fuse_req_t req, fuse_ino_t parent, const char *name, double a, double b) {
  lf_session *s = fuse_req_userdata(req);
  lf_call *c = call_new(op, req, parent);
  if (c == NULL || set_name(s, c, &c->name, name) != 0) return;
  c->a = a;
  c->b = b;
  dispatch(s, c);
}

static void plain(lf_session *s, int op, fuse_req_t req, fuse_ino_t ino, double a, double b) {
  lf_call *c = call_new(op, req, ino);
  if (c == NULL) return;
  c->a = a;
  c->b = b;
  dispatch(s, c);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  lf_session *s = userdata;
  conn->max_write = s->opts.max_write;
  if (s->opts.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  named(LF_OP_LOOKUP, req, parent, name, 0, 0);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  lf_session *s = fuse_req_userdata(req);
  fuse_reply_none(req);
  plain(s, LF_OP_FORGET, NULL, ino, (double) nlookup, 0);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  lf_session *s = fuse_req_userdata(req);
  fuse_reply_none(req);
  for (size_t i = 0; i < count; i++) plain(s, LF_OP_FORGET, NULL, forgets[i].ino, (double) forgets[i].nlookup, 0);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void) fi;
  plain(fuse_req_userdata(req), LF_OP_GETATTR, req, ino, 0, 0);
}

static double ms(struct timespec t) { return (double) t.tv_sec * 1000.0 + (double) t.tv_nsec / 1e6; }

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  (void) fi;
  lf_session *s = fuse_req_userdata(req);
  lf_call *c = call_new(LF_OP_SETATTR, req, ino);
  if (c == NULL) return;
  c->a = to_set;
  c->b = attr->st_mode;
  c->c = attr->st_uid;
  c->d = attr->st_gid;
  c->e = (double) attr->st_size;
  c->f = ms(attr->st_atim);
  c->g = ms(attr->st_mtim);
  dispatch(s, c);
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
  lf_session *s = fuse_req_userdata(req);
  lf_call *c = call_new(LF_OP_RENAME, req, parent);
  if (c == NULL || set_name(s, c, &c->name, name) != 0) return;
  if (set_name(s, c, &c->name2, newname) != 0) return;
  c->ino2 = newparent;
  c->a = flags;
  dispatch(s, c);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  plain(fuse_req_userdata(req), LF_OP_OPEN, req, ino, fi->flags, 0);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  named(LF_OP_CREATE, req, parent, name, mode, fi->flags);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void) fi;
  lf_session *s = fuse_req_userdata(req);
  fuse_reply_err(req, 0);
  plain(s, LF_OP_RELEASE, NULL, ino, 0, 0);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void) ino;
  (void) fi;
  fuse_reply_err(req, 0);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  (void) fi;
  plain(fuse_req_userdata(req), LF_OP_FSYNC, req, ino, datasync, 0);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void) fi;
  plain(fuse_req_userdata(req), LF_OP_READDIR, req, ino, (double) size, (double) off);
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
  lf_session *s = fuse_req_userdata(req);
  uint64_t unique = lf_cur_unique & ~FUSE_UNIQUE_RESEND;
  lf_intent *w = lf_my_intent;
  // Not shipped, or sent again after the agent that took it died with its bytes already in the ring: no bytes go.
  int ships = f->wb.source != NULL && !((lf_cur_unique & FUSE_UNIQUE_RESEND) && lf_state_resend_done(unique));
  if (ships) {
    // Until the answer is out, the state says which write this thread holds and (intake.c) where its bytes went.
    if (w != NULL) {
      w->unique = unique;
      w->source = f->wb.source->id;
      w->cursor = LF_NO_CURSOR;
      __atomic_store_n(&w->armed, 1, __ATOMIC_RELEASE);
      lf_intake_mark = &w->cursor;
    }
    rc = s->opts.writeback ? lf_wb_write(s->intake, &f->wb, bytes, size, (uint64_t) off)
      : lf_intake_write(s->intake, f->wb.source, bytes, size, LF_WAIT);
    lf_intake_mark = NULL;
  }
  if (rc == 0) rc = lf_file_write(f, (uint64_t) off, bytes, size, now_ms());
  __atomic_add_fetch(&s->n_writes, 1, __ATOMIC_RELAXED);
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
  lf_session *s = fuse_req_userdata(req);
  __atomic_add_fetch(&s->n_reads, 1, __ATOMIC_RELAXED);
  fuse_reply_buf(req, (const char *) buf, n);
  free(buf);
}

const struct fuse_lowlevel_ops lf_session_ops = {
  .init = ll_init, .lookup = ll_lookup, .forget = ll_forget, .forget_multi = ll_forget_multi,
  .getattr = ll_getattr, .setattr = ll_setattr, .mkdir = ll_mkdir, .unlink = ll_unlink, .rmdir = ll_rmdir,
  .rename = ll_rename, .open = ll_open, .create = ll_create, .release = ll_release, .flush = ll_flush,
  .fsync = ll_fsync, .readdir = ll_readdir, .statfs = ll_statfs, .write = ll_write, .read = ll_read,
};
