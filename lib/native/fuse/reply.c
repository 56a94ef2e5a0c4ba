// The answers to the ops JavaScript handles (session.h, lf_reply_*), from its thread.
#include "session.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "files.h"

static void fill_stat(lf_session *s, struct stat *st, const lf_attr *a) {
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
  st->st_blksize = s->opts.max_write;
  st->st_blocks = (st->st_size + 511) / 512;
  const double times[3] = { a->atime, mtime, ctime };
  struct timespec *into[3] = { &st->st_atim, &st->st_mtim, &st->st_ctim };
  for (int i = 0; i < 3; i++) {
    into[i]->tv_sec = (time_t) (times[i] / 1000);
    into[i]->tv_nsec = (long) ((times[i] - (double) into[i]->tv_sec * 1000) * 1e6);
  }
}

static void fill_entry(lf_session *s, struct fuse_entry_param *e, const lf_attr *a) {
  memset(e, 0, sizeof *e);
  e->ino = a->ino;
  e->generation = 1;
  e->attr_timeout = s->opts.cache_s;
  e->entry_timeout = s->opts.cache_s;
  fill_stat(s, &e->attr, a);
}

void lf_reply_err(void *req, int errno_) { fuse_reply_err(req, errno_); }

void lf_reply_entry(void *req, const lf_attr *attr) {
  struct fuse_entry_param e;
  fill_entry(fuse_req_userdata(req), &e, attr);
  fuse_reply_entry(req, &e);
}

void lf_reply_attr(void *req, const lf_attr *attr) {
  lf_session *s = fuse_req_userdata(req);
  struct stat st;
  fill_stat(s, &st, attr);
  fuse_reply_attr(req, &st, s->opts.cache_s);
}

void lf_reply_open(void *req, uint64_t fh) {
  struct fuse_file_info fi = { .fh = fh };
  fuse_reply_open(req, &fi);
}

void lf_reply_create(void *req, const lf_attr *attr, uint64_t fh) {
  struct fuse_entry_param e;
  fill_entry(fuse_req_userdata(req), &e, attr);
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
