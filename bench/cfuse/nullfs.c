/*
 * The ceiling for any FUSE design on this kernel: a libfuse 2 filesystem that accepts every write and keeps
 * nothing. A flat directory of files that exist once created; their size is what was written to them.
 * Built and run by bench/peers.ts: nullfs MOUNTPOINT -f -o big_writes,max_write=131072
 */
#define FUSE_USE_VERSION 26
#include <fuse.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 4096

struct file { char name[256]; off_t size; int dir; };
static struct file files[MAX_FILES];
static int nfiles;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct file *find (const char *path) {
  for (int i = 0; i < nfiles; i++) if (strcmp(files[i].name, path) == 0) return &files[i];
  return NULL;
}

static struct file *add (const char *path, int dir) {
  if (nfiles == MAX_FILES || strlen(path) >= sizeof files[0].name) return NULL;
  struct file *f = &files[nfiles++];
  strcpy(f->name, path);
  f->size = 0;
  f->dir = dir;
  return f;
}

static int nf_getattr (const char *path, struct stat *st) {
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) { st->st_mode = S_IFDIR | 0777; st->st_nlink = 2; return 0; }
  pthread_mutex_lock(&lock);
  struct file *f = find(path);
  int err = 0;
  if (!f) err = -ENOENT;
  else if (f->dir) { st->st_mode = S_IFDIR | 0777; st->st_nlink = 2; }
  else { st->st_mode = S_IFREG | 0666; st->st_nlink = 1; st->st_size = f->size; }
  pthread_mutex_unlock(&lock);
  return err;
}

static int nf_mkdir (const char *path, mode_t mode) {
  (void) mode;
  pthread_mutex_lock(&lock);
  int err = find(path) ? -EEXIST : (add(path, 1) ? 0 : -ENOSPC);
  pthread_mutex_unlock(&lock);
  return err;
}

static int nf_create (const char *path, mode_t mode, struct fuse_file_info *fi) {
  (void) mode; (void) fi;
  pthread_mutex_lock(&lock);
  int err = find(path) ? 0 : (add(path, 0) ? 0 : -ENOSPC);
  pthread_mutex_unlock(&lock);
  return err;
}

static int nf_open (const char *path, struct fuse_file_info *fi) {
  (void) fi;
  pthread_mutex_lock(&lock);
  int err = find(path) ? 0 : -ENOENT;
  pthread_mutex_unlock(&lock);
  return err;
}

static int nf_write (const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void) buf; (void) fi;
  pthread_mutex_lock(&lock);
  struct file *f = find(path);
  if (f && off + (off_t) size > f->size) f->size = off + size;
  pthread_mutex_unlock(&lock);
  return f ? (int) size : -ENOENT;
}

static int nf_truncate (const char *path, off_t size) {
  pthread_mutex_lock(&lock);
  struct file *f = find(path);
  if (f) f->size = size;
  pthread_mutex_unlock(&lock);
  return f ? 0 : -ENOENT;
}

static int nf_ok (const char *path, struct fuse_file_info *fi) { (void) path; (void) fi; return 0; }
static int nf_utimens (const char *path, const struct timespec tv[2]) { (void) path; (void) tv; return 0; }

static int nf_readdir (const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi) {
  (void) path; (void) off; (void) fi;
  fill(buf, ".", NULL, 0);
  fill(buf, "..", NULL, 0);
  return 0;
}

static struct fuse_operations ops = {
  .getattr = nf_getattr, .mkdir = nf_mkdir, .create = nf_create, .open = nf_open, .write = nf_write,
  .truncate = nf_truncate, .release = nf_ok, .flush = nf_ok, .utimens = nf_utimens, .readdir = nf_readdir,
};

int main (int argc, char *argv[]) { return fuse_main(argc, argv, &ops, NULL); }
