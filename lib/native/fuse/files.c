#include "files.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

// A two-level table: inode numbers only grow (lib/fs/tree.ts never reuses one), so a slot is set once and
// cleared once. Chunks are made on first use and published with an atomic store; a reader needs no lock.
#define CHUNK_BITS 12
#define CHUNK (1u << CHUNK_BITS)
#define CHUNKS (1u << 20)

static lf_file **chunks[CHUNKS];
static pthread_mutex_t grow_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t tail_bytes;

/** Copies what the next agent needs; under f->mu. */
static void mirror(lf_file *f) {
  lf_file_rec *rec = __atomic_load_n(&f->rec, __ATOMIC_ACQUIRE);
  if (rec == NULL) return;
  rec->size = f->tail.size;
  rec->low = f->tail.low;
  rec->mtime = f->mtime;
}

static lf_file **slot(uint64_t ino, int create) {
  uint64_t c = ino >> CHUNK_BITS;
  if (c >= CHUNKS) return NULL;
  lf_file **chunk = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
  if (chunk == NULL && create) {
    pthread_mutex_lock(&grow_mu);
    chunk = chunks[c];
    if (chunk == NULL) {
      chunk = calloc(CHUNK, sizeof *chunk);
      if (chunk != NULL) __atomic_store_n(&chunks[c], chunk, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&grow_mu);
  }
  return chunk == NULL ? NULL : &chunk[ino & (CHUNK - 1)];
}

static void file_free(lf_file *f);

/** Frees a file writeback kept after it left the table (lf_wb_detach). */
static void release(lf_wb_file *w) { file_free((lf_file *) ((char *) w - offsetof(lf_file, wb))); }

int lf_files_add(uint64_t ino, lf_source *source, uint64_t tail_cap, lf_file_rec *rec, int restore,
  uint8_t *tail_buf) {
  lf_file **s = slot(ino, 1);
  if (s == NULL) return ino >> CHUNK_BITS >= CHUNKS ? -EINVAL : -ENOMEM;
  lf_file *f = calloc(1, sizeof *f);
  if (f == NULL) return -ENOMEM;
  pthread_mutex_init(&f->mu, NULL);
  f->rec = rec;
  restore = restore && rec != NULL;
  if (!restore && rec != NULL) *rec = (lf_file_rec) { 0 };
  uint64_t size = restore ? rec->size : 0;
  if (tail_buf != NULL) {
    lf_tail_init_external(&f->tail, tail_buf, tail_cap, size, restore ? rec->low : 0);
  } else {
    // A malloc'd tail starts empty: a restored file's earlier bytes read as zeros.
    lf_tail_init(&f->tail, tail_cap);
    f->tail.size = f->tail.low = size;
  }
  if (restore) f->mtime = rec->mtime;
  lf_wb_init(&f->wb, source, rec ? &rec->shipped : NULL, restore ? rec->shipped : 0, release);
  __atomic_add_fetch(&tail_bytes, f->tail.held, __ATOMIC_RELAXED);
  lf_files_remove(ino);
  __atomic_store_n(s, f, __ATOMIC_RELEASE);
  return 0;
}

lf_file *lf_files_get(uint64_t ino) {
  lf_file **s = slot(ino, 0);
  return s == NULL ? NULL : __atomic_load_n(s, __ATOMIC_ACQUIRE);
}

void lf_files_remove(uint64_t ino) {
  lf_file **s = slot(ino, 0);
  if (s == NULL) return;
  lf_file *f = __atomic_exchange_n(s, NULL, __ATOMIC_ACQ_REL);
  if (f == NULL) return;
  // Its slot in the state goes to the next file JS creates; a removed file that writeback still ships (below)
  // must not write there any more.
  __atomic_store_n(&f->rec, NULL, __ATOMIC_RELEASE);
  if (!lf_wb_detach(&f->wb)) file_free(f);
}

/** Frees a file that is out of the table. */
static void file_free(lf_file *f) {
  lf_wb_destroy(&f->wb);
  __atomic_sub_fetch(&tail_bytes, f->tail.held, __ATOMIC_RELAXED);
  lf_tail_free(&f->tail);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

int lf_file_write(lf_file *f, uint64_t offset, const uint8_t *bytes, uint64_t len, double now) {
  pthread_mutex_lock(&f->mu);
  uint64_t held = f->tail.held;
  int rc = lf_tail_write(&f->tail, offset, bytes, len);
  if (rc == 0) {
    f->mtime = now;
    mirror(f);
  }
  __atomic_add_fetch(&tail_bytes, f->tail.held - held, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&f->mu);
  return rc;
}

int lf_file_truncate(lf_file *f, uint64_t size, double now) {
  pthread_mutex_lock(&f->mu);
  uint64_t held = f->tail.held;
  int rc = lf_tail_truncate(&f->tail, size);
  if (rc == 0) {
    f->mtime = now;
    mirror(f);
    lf_wb_truncate(&f->wb, size);
  }
  __atomic_add_fetch(&tail_bytes, f->tail.held - held, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&f->mu);
  return rc;
}

uint64_t lf_file_read(lf_file *f, uint64_t offset, uint8_t *into, uint64_t len) {
  pthread_mutex_lock(&f->mu);
  uint64_t n = lf_tail_read(&f->tail, offset, into, len);
  pthread_mutex_unlock(&f->mu);
  return n;
}

void lf_file_state(lf_file *f, uint64_t *size, double *mtime) {
  pthread_mutex_lock(&f->mu);
  *size = f->tail.size;
  *mtime = f->mtime;
  pthread_mutex_unlock(&f->mu);
}

uint64_t lf_files_tail_bytes(void) { return __atomic_load_n(&tail_bytes, __ATOMIC_RELAXED); }
