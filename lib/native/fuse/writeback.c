// See writeback.h. Locks: a file's ship_mu (held while waiting for ring space) comes before `registry_mu`
// (held only for list changes); JS takes neither.
#include "writeback.h"

#include <errno.h>
#include <math.h>
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
  lf_wb_file *file;
} lf_entry;

static lf_entry *registry;
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t waiting_bytes;
/** Files whose shipped bytes end inside a line (line_open). */
static uint64_t open_lines;

void lf_wb_init(lf_wb_file *f, lf_source *source, uint64_t *shipped_rec, uint64_t shipped,
  void (*release)(lf_wb_file *f)) {
  *f = (lf_wb_file) {
    .source = source, .shipped = shipped, .shipped_rec = shipped_rec, .lower_to = -1, .release = release,
  };
  pthread_mutex_init(&f->ship_mu, NULL);
}

double lf_wb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

static void enlist(lf_wb_file *f) {
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
static int stash(lf_wb_file *f, const uint8_t *buf, uint64_t size, uint64_t off) {
  lf_piece **at = &f->pending;
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
static void set_shipped(lf_wb_file *f, uint64_t to) {
  f->shipped = to;
  uint64_t *rec = __atomic_load_n(&f->shipped_rec, __ATOMIC_ACQUIRE);
  if (rec != NULL) *rec = to;
}

static void set_line_open(lf_wb_file *f, int open) {
  if (__atomic_exchange_n(&f->line_open, open, __ATOMIC_ACQ_REL) == open) return;
  if (open) __atomic_add_fetch(&open_lines, 1, __ATOMIC_RELAXED);
  else __atomic_sub_fetch(&open_lines, 1, __ATOMIC_RELAXED);
}

/** After a stop began, a file takes new bytes only while its stream ends inside a line (lf_wb_seal). */
static int refuses(lf_intake *ix, lf_wb_file *f) {
  int closed = __atomic_load_n(&ix->closed, __ATOMIC_ACQUIRE);
  return closed == LF_CLOSED || (closed == LF_CLOSING && !__atomic_load_n(&f->line_open, __ATOMIC_ACQUIRE));
}

static uint64_t line_end(const uint8_t *bytes, uint64_t len) {
  const uint8_t *nl = memchr(bytes, '\n', len);
  return nl == NULL ? len : (uint64_t) (nl - bytes) + 1;
}

/**
 * Ships [off, off + size) past the shipped offset, which must be at or after `off`. After a stop began, only
 * the rest of the unfinished line goes, and the request is refused (-EROFS) when it held more.
 */
static int ship(lf_intake *ix, lf_wb_file *f, const uint8_t *buf, uint64_t size, uint64_t off, int flags) {
  if (off + size <= f->shipped) return 0;
  if (refuses(ix, f)) return -EROFS;
  const uint8_t *from = buf + (f->shipped - off);
  uint64_t len = off + size - f->shipped;
  int closing = __atomic_load_n(&ix->closed, __ATOMIC_ACQUIRE) != 0;
  uint64_t take = closing ? line_end(from, len) : len;
  // The intake's own refusal after a stop looks at the source, which files renamed over each other share.
  int rc = lf_intake_write(ix, f->source, from, take, flags | (closing ? LF_FORCE : 0));
  if (rc != 0) return rc;
  set_shipped(f, f->shipped + take);
  set_line_open(f, from[take - 1] != '\n');
  return take < len ? -EROFS : 0;
}

static void unlink_first(lf_wb_file *f) {
  lf_piece *p = f->pending;
  f->pending = p->next;
  __atomic_sub_fetch(&waiting_bytes, p->len, __ATOMIC_RELAXED);
  free(p);
}

/**
 * Ships the waiting pieces the shipped offset has reached, and those that came before `real_before`, whose gap
 * a sync proved real. A piece refused after a stop began is dropped.
 */
static void drain(lf_intake *ix, lf_wb_file *f, double real_before) {
  lf_piece *p;
  while ((p = f->pending) != NULL && (p->off <= f->shipped || p->at < real_before)) {
    if (p->off > f->shipped) set_shipped(f, p->off);
    // The kernel was told these bytes were taken, so the intake's refusal after a stop does not apply (LF_FORCE);
    // a tenant without a ring (ENOSPC) is the one error left, and nobody is left to tell.
    ship(ix, f, p->data, p->len, p->off, LF_WAIT | LF_FORCE);
    unlink_first(f);
  }
}

/** Drops the waiting pieces at or past offset `from_off`, and those that came at or after `from_at`. */
static void drop(lf_wb_file *f, uint64_t from_off, double from_at) {
  lf_piece **at = &f->pending;
  while (*at != NULL) {
    lf_piece *p = *at;
    if (p->off >= from_off || p->at >= from_at) {
      *at = p->next;
      __atomic_sub_fetch(&waiting_bytes, p->len, __ATOMIC_RELAXED);
      free(p);
    } else {
      at = &p->next;
    }
  }
}

/** A truncate lowered the file: the shipped offset follows, and pieces past the new end are stale. */
static void apply_truncate(lf_wb_file *f) {
  int64_t lower = __atomic_exchange_n(&f->lower_to, -1, __ATOMIC_ACQ_REL);
  if (lower < 0 || (uint64_t) lower >= f->shipped) return;
  set_shipped(f, (uint64_t) lower);
  drop(f, (uint64_t) lower, INFINITY);
}

int lf_wb_write(lf_intake *ix, lf_wb_file *f, const uint8_t *buf, uint64_t size, uint64_t off) {
  pthread_mutex_lock(&f->ship_mu);
  apply_truncate(f);
  int rc;
  if (off <= f->shipped) rc = ship(ix, f, buf, size, off, LF_WAIT);
  else rc = refuses(ix, f) ? -EROFS : stash(f, buf, size, off);
  if (rc == 0) drain(ix, f, 0);
  pthread_mutex_unlock(&f->ship_mu);
  return rc;
}

/** Runs `act` on each file with waiting pieces, under its ship_mu; frees a removed file left with none. */
static void walk(lf_intake *ix, void (*act)(lf_intake *, lf_wb_file *, double, int), double at, int level) {
  pthread_mutex_lock(&registry_mu);
  lf_entry *list = registry;
  registry = NULL;
  pthread_mutex_unlock(&registry_mu);
  while (list != NULL) {
    lf_entry *e = list;
    list = e->next;
    lf_wb_file *f = e->file;
    pthread_mutex_lock(&f->ship_mu);
    act(ix, f, at, level);
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
    if (!keep && orphan) f->release(f);
  }
}

static void expire(lf_intake *ix, lf_wb_file *f, double sync_began, int level) {
  (void) level;
  drain(ix, f, sync_began);
}

void lf_wb_expire(lf_intake *ix, double sync_began) { walk(ix, expire, sync_began, 0); }

static void seal(lf_intake *ix, lf_wb_file *f, double since, int level) {
  (void) ix;
  if (level == LF_CLOSED || !__atomic_load_n(&f->line_open, __ATOMIC_ACQUIRE)) drop(f, UINT64_MAX, since);
}

void lf_wb_seal(lf_intake *ix, double since, int level) {
  __atomic_store_n(&ix->closed, level, __ATOMIC_RELEASE);
  walk(ix, seal, since, level);
}

uint64_t lf_wb_open_lines(void) { return __atomic_load_n(&open_lines, __ATOMIC_RELAXED); }

void lf_wb_destroy(lf_wb_file *f) {
  set_line_open(f, 0);
  pthread_mutex_destroy(&f->ship_mu);
}

void lf_wb_truncate(lf_wb_file *f, uint64_t size) { __atomic_store_n(&f->lower_to, (int64_t) size, __ATOMIC_RELEASE); }

int lf_wb_detach(lf_wb_file *f) {
  __atomic_store_n(&f->shipped_rec, NULL, __ATOMIC_RELEASE);
  pthread_mutex_lock(&registry_mu);
  int later = f->in_registry;
  if (later) f->orphan = 1;
  pthread_mutex_unlock(&registry_mu);
  return later;
}

uint64_t lf_wb_waiting_bytes(void) { return __atomic_load_n(&waiting_bytes, __ATOMIC_RELAXED); }
