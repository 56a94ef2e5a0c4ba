// See writeback.h. Locks: a file's ship_mu (held while waiting for ring space) comes before `registry_mu`
// (held only for list changes); JS takes neither.
#include "writeback.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct lf_piece {
  struct lf_piece *next;
  uint64_t off, len;
  double at;
  uint8_t data[];
} lf_piece;

/** Files with waiting pieces, for the flusher; a file is on it while `in_registry`. */
typedef struct lf_entry {
  struct lf_entry *next;
  lf_file *file;
} lf_entry;

static lf_entry *registry;
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t waiting_bytes;

double lf_wb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

static void enlist(lf_file *f) {
  pthread_mutex_lock(&registry_mu);
  if (!f->in_registry) {
    lf_entry *e = malloc(sizeof *e);
    if (e != NULL) {
      e->file = f;
      e->next = registry;
      registry = e;
      f->in_registry = 1;
    }
  }
  pthread_mutex_unlock(&registry_mu);
}

/** Keeps a copy of a request that came ahead of the bytes before it. Pieces are sorted by offset. */
static int stash(lf_file *f, const uint8_t *buf, uint64_t size, uint64_t off) {
  lf_piece **at = (lf_piece **) &f->pending;
  while (*at != NULL && (*at)->off < off) at = &(*at)->next;
  // A page sent again whole carries everything the earlier copy had: the longer one stays.
  if (*at != NULL && (*at)->off == off) {
    if ((*at)->len >= size) return 0;
    lf_piece *old = *at;
    *at = old->next;
    __atomic_sub_fetch(&waiting_bytes, old->len, __ATOMIC_RELAXED);
    free(old);
  }
  lf_piece *p = malloc(sizeof *p + size);
  if (p == NULL) return -ENOMEM;
  p->off = off;
  p->len = size;
  p->at = lf_wb_now();
  memcpy(p->data, buf, size);
  p->next = *at;
  *at = p;
  __atomic_add_fetch(&waiting_bytes, size, __ATOMIC_RELAXED);
  enlist(f);
  return 0;
}

/** Under ship_mu; mirrored for the agent after this one, which must not ship these bytes again either. */
static void set_shipped(lf_file *f, uint64_t to) {
  f->shipped = to;
  lf_file_rec *rec = __atomic_load_n(&f->rec, __ATOMIC_ACQUIRE);
  if (rec != NULL) rec->shipped = to;
}

/** Ships [off, off + size) past the shipped offset, which must be at or after `off`. */
static int ship(lf_intake *ix, lf_file *f, const uint8_t *buf, uint64_t size, uint64_t off, int flags) {
  if (off + size <= f->shipped) return 0;
  uint64_t skip = f->shipped - off;
  int rc = lf_intake_write(ix, f->source, buf + skip, size - skip, flags);
  if (rc == 0) set_shipped(f, off + size);
  return rc;
}

/** Ships the waiting pieces the shipped offset has reached (all of them when `gap_is_real`). */
static void drain(lf_intake *ix, lf_file *f, int gap_is_real) {
  lf_piece *p;
  while ((p = f->pending) != NULL && (p->off <= f->shipped || gap_is_real)) {
    if (p->off > f->shipped) set_shipped(f, p->off);
    // The kernel was told these bytes were taken, so a stop does not refuse them (LF_FORCE); a tenant without
    // a ring (ENOSPC) is the one error left, and nobody is left to tell.
    ship(ix, f, p->data, p->len, p->off, LF_WAIT | LF_FORCE);
    f->pending = p->next;
    __atomic_sub_fetch(&waiting_bytes, p->len, __ATOMIC_RELAXED);
    free(p);
  }
}

/** A truncate lowered the file: the shipped offset follows, and pieces past the new end are stale. */
static void apply_truncate(lf_file *f) {
  int64_t lower = __atomic_exchange_n(&f->lower_to, -1, __ATOMIC_ACQ_REL);
  if (lower < 0 || (uint64_t) lower >= f->shipped) return;
  set_shipped(f, (uint64_t) lower);
  lf_piece **at = (lf_piece **) &f->pending;
  while (*at != NULL) {
    lf_piece *p = *at;
    if (p->off >= (uint64_t) lower) {
      *at = p->next;
      __atomic_sub_fetch(&waiting_bytes, p->len, __ATOMIC_RELAXED);
      free(p);
    } else {
      at = &p->next;
    }
  }
}

int lf_wb_write(lf_intake *ix, lf_file *f, const uint8_t *buf, uint64_t size, uint64_t off) {
  pthread_mutex_lock(&f->ship_mu);
  apply_truncate(f);
  int rc = off > f->shipped ? stash(f, buf, size, off) : ship(ix, f, buf, size, off, LF_WAIT);
  if (rc == 0) drain(ix, f, 0);
  pthread_mutex_unlock(&f->ship_mu);
  return rc;
}

void lf_wb_expire(lf_intake *ix, double sync_began) {
  pthread_mutex_lock(&registry_mu);
  lf_entry *list = registry;
  registry = NULL;
  pthread_mutex_unlock(&registry_mu);
  while (list != NULL) {
    lf_entry *e = list;
    list = e->next;
    lf_file *f = e->file;
    pthread_mutex_lock(&f->ship_mu);
    lf_piece *first = f->pending;
    if (first != NULL && first->at < sync_began) drain(ix, f, 1);
    int keep = f->pending != NULL;
    pthread_mutex_lock(&registry_mu);
    int orphan = f->orphan;
    if (keep) {
      e->next = registry;
      registry = e;
    } else {
      f->in_registry = 0;
      free(e);
    }
    pthread_mutex_unlock(&registry_mu);
    pthread_mutex_unlock(&f->ship_mu);
    if (!keep && orphan) lf_file_free(f);
  }
}

int lf_wb_detach(lf_file *f) {
  pthread_mutex_lock(&registry_mu);
  int later = f->in_registry;
  if (later) f->orphan = 1;
  pthread_mutex_unlock(&registry_mu);
  return later;
}

uint64_t lf_wb_waiting_bytes(void) { return __atomic_load_n(&waiting_bytes, __ATOMIC_RELAXED); }
