// The state a restarted agent takes over (see state.h).
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char MAGIC[8] = "logfs-st";

#define ALIGN(n, a) (((n) + (a) - 1) / (a) * (a))
#define OFF_TENANTS 8192u
#define OFF_INTENTS ALIGN(OFF_TENANTS + LF_MAX_TENANTS * sizeof(lf_tenant_rec), 4096)
#define OFF_SOURCES ALIGN(OFF_INTENTS + LF_MAX_INTENTS * sizeof(lf_intent), 4096)
#define OFF_FILES ALIGN(OFF_SOURCES + (uint64_t) LF_MAX_SOURCES * sizeof(lf_source_rec), 4096)
#define OFF_NAMES ALIGN(OFF_FILES + (uint64_t) LF_MAX_FILES * sizeof(lf_file_rec), 4096)
#define OFF_META(i) (OFF_NAMES + LF_NAMES_BYTES + (uint64_t) (i) * LF_META_BYTES)
#define OFF_RINGS OFF_META(2)
#define PAGE 4096u
/** Each ring: its control block on a cache line of its own, then its data. */
#define RING_EXTRA ALIGN(LF_CONTROL_BYTES, 64)

_Static_assert(sizeof(lf_state_header) <= OFF_TENANTS, "the header fits before the tenants");

static uint8_t *base;
static lf_state_header *hdr;
/** Request ids of resent writes already in a ring (lf_state_recover); 0 once answered. */
static uint64_t done[LF_MAX_INTENTS];
static uint32_t n_done;

#define RINGS_END ALIGN(OFF_RINGS + LF_RING_SPACE + LF_MAX_TENANTS * (RING_EXTRA + 64), PAGE)

static uint64_t total_for(uint64_t tail_cap) { return RINGS_END + (uint64_t) LF_MAX_FILES * tail_cap; }

lf_state_header *lf_state(void) { return hdr; }

int lf_state_open(int fd, uint64_t memory, uint64_t tail_cap, char *error, size_t error_len) {
  tail_cap = ALIGN(tail_cap, PAGE);
  if (base != NULL) {
    snprintf(error, error_len, "the state is already open");
    return -1;
  }
  if (fd < 0 && (fd = memfd_create("logfs-state", MFD_CLOEXEC)) < 0) {
    snprintf(error, error_len, "memfd_create: %s", strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(error, error_len, "state fd %d: %s", fd, strerror(errno));
    return -1;
  }
  int found = LF_STATE_FRESH;
  uint64_t total = total_for(tail_cap);
  if (st.st_size > 0) {
    lf_state_header h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t) sizeof h || memcmp(h.magic, MAGIC, sizeof MAGIC) != 0) {
      snprintf(error, error_len, "the state file is not a logfs state");
      return -1;
    }
    if (h.version != LF_STATE_VERSION) {
      snprintf(error, error_len, "state version %u, this build reads version %u", h.version, LF_STATE_VERSION);
      return -1;
    }
    if (h.total_bytes != (uint64_t) st.st_size || h.tail_cap % PAGE != 0 ||
        h.total_bytes != total_for(h.tail_cap)) {
      snprintf(error, error_len, "the state's layout does not match its size");
      return -1;
    }
    // The budget is the first agent's (a later one keeps it, as it keeps the loans made under it).
    total = h.total_bytes;
    found = h.mounted ? LF_STATE_TAKEOVER : LF_STATE_FRESH;
  }
  // A state that never got as far as a mount holds nothing anyone refers to: it starts over.
  if (found == LF_STATE_FRESH && ftruncate(fd, 0) != 0) {
    snprintf(error, error_len, "state: ftruncate: %s", strerror(errno));
    return -1;
  }
  if (found == LF_STATE_FRESH && ftruncate(fd, (off_t) total) != 0) {
    snprintf(error, error_len, "state: ftruncate to %llu bytes: %s", (unsigned long long) total, strerror(errno));
    return -1;
  }
  void *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    snprintf(error, error_len, "state: mmap: %s", strerror(errno));
    return -1;
  }
  base = m;
  hdr = m;
  if (found == LF_STATE_FRESH) {
    hdr->version = LF_STATE_VERSION;
    hdr->total_bytes = total;
    hdr->memory = memory;
    hdr->budget.free = (int64_t) memory;
    hdr->tail_cap = tail_cap;
    memcpy(hdr->magic, MAGIC, sizeof MAGIC);
  } else {
    hdr->takeovers++;
  }
  return found;
}

static int64_t *ctl_at(const lf_tenant_rec *r) { return (int64_t *) (base + r->ring_off); }

lf_tenant_rec *lf_state_tenant(uint32_t index, int64_t **ctl, uint8_t **data) {
  if (index >= hdr->n_tenants) return NULL;
  lf_tenant_rec *r = (lf_tenant_rec *) (base + OFF_TENANTS) + index;
  *ctl = ctl_at(r);
  *data = base + r->ring_off + RING_EXTRA;
  return r;
}

// The rings are pages of a shared memfd: a page stays resident, counted in the agent's and the supervisor's RSS,
// until it is removed, and a ring's head goes round all of its pages. Removing the pages of acknowledged bytes
// keeps a ring resident only for the bytes it holds; the producer's next write there finds a zero page.
int lf_state_tenant_discard(uint32_t index, uint64_t from, uint64_t len) {
  int64_t *ctl;
  uint8_t *data;
  lf_tenant_rec *r = lf_state_tenant(index, &ctl, &data);
  if (from > r->capacity || len > r->capacity - from) return EINVAL;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)(data + from) + page - 1) & ~(page - 1);
  uintptr_t b = (uintptr_t)(data + from + len) & ~(page - 1);
  if (b <= a) return 0;
  return madvise((void *)a, b - a, MADV_REMOVE) == 0 ? 0 : errno;
}

lf_tenant_rec *lf_state_tenant_new(const char *name, uint64_t capacity, uint64_t reserve, int policy, int64_t **ctl,
  uint8_t **data) {
  uint64_t room = RINGS_END - OFF_RINGS - hdr->rings_used;
  if (hdr->n_tenants >= LF_MAX_TENANTS || RING_EXTRA + capacity > room || strlen(name) >= LF_TENANT_NAME) return NULL;
  lf_tenant_rec *r = (lf_tenant_rec *) (base + OFF_TENANTS) + hdr->n_tenants;
  r->ring_off = OFF_RINGS + hdr->rings_used;
  r->capacity = capacity;
  r->reserve = reserve < capacity ? reserve : capacity;
  // The reserve is the tenant's own from now on: the pool lends only what is left (FUSE threads borrow meanwhile).
  __atomic_sub_fetch(&hdr->budget.free, (int64_t) r->reserve, __ATOMIC_SEQ_CST);
  r->policy = (uint32_t) policy;
  snprintf(r->name, sizeof r->name, "%s", name);
  memset(base + r->ring_off, 0, RING_EXTRA);
  hdr->rings_used += ALIGN(RING_EXTRA + capacity, 64);
  __atomic_store_n(&hdr->n_tenants, hdr->n_tenants + 1, __ATOMIC_RELEASE);
  return lf_state_tenant(hdr->n_tenants - 1, ctl, data);
}

lf_source_rec *lf_state_source(uint32_t id) {
  return id < hdr->n_sources ? (lf_source_rec *) (base + OFF_SOURCES) + id : NULL;
}

lf_source_rec *lf_state_source_new(int32_t tenant, const char *path, size_t path_len) {
  if (hdr->n_sources >= LF_MAX_SOURCES || hdr->names_used + path_len > LF_NAMES_BYTES) return NULL;
  lf_source_rec *r = (lf_source_rec *) (base + OFF_SOURCES) + hdr->n_sources;
  memset(r, 0, sizeof *r);
  r->s.id = hdr->n_sources;
  r->s.line_ended = 1;
  r->tenant = tenant;
  r->path_off = hdr->names_used;
  r->path_len = (uint32_t) path_len;
  memcpy(base + OFF_NAMES + hdr->names_used, path, path_len);
  hdr->names_used += path_len;
  __atomic_store_n(&hdr->n_sources, hdr->n_sources + 1, __ATOMIC_RELEASE);
  return r;
}

const char *lf_state_source_path(const lf_source_rec *r) { return (const char *) base + OFF_NAMES + r->path_off; }

lf_file_rec *lf_state_file(uint32_t slot) {
  return slot < LF_MAX_FILES ? (lf_file_rec *) (base + OFF_FILES) + slot : NULL;
}

uint8_t *lf_state_tail(uint32_t slot) {
  return slot < LF_MAX_FILES ? base + RINGS_END + (uint64_t) slot * hdr->tail_cap : NULL;
}

lf_intent *lf_state_intent(uint32_t thread) {
  return thread < LF_MAX_INTENTS ? (lf_intent *) (base + OFF_INTENTS) + thread : NULL;
}

void lf_state_keep_init(const void *buf, size_t len) {
  if (hdr->init_len != 0 || len > LF_INIT_BYTES) return;
  memcpy(hdr->init, buf, len);
  __atomic_store_n(&hdr->init_len, (uint32_t) len, __ATOMIC_RELEASE);
}

/** Moves cursors past the records of one ring; the record layout is intake.h's. */
static void recover_ring(lf_tenant *t) {
  uint64_t tail = (uint64_t) t->ctl[LF_CTL_TAIL], head = (uint64_t) t->ctl[LF_CTL_HEAD];
  for (uint64_t pos = tail; pos < head;) {
    uint64_t at = pos % t->capacity, room = t->capacity - at;
    uint32_t head32[2];
    if (room < LF_HEADER) { pos += room; continue; }
    memcpy(head32, t->data + at, sizeof head32);
    if (head32[1] == LF_PAD) { pos += room; continue; }
    double offset;
    memcpy(&offset, t->data + at + 8, sizeof offset);
    lf_source_rec *r = lf_state_source(head32[1]);
    uint64_t end = (uint64_t) offset + head32[0];
    if (r != NULL && r->s.next < end) {
      r->s.next = end;
      r->s.line_ended = head32[0] > 0 && t->data[at + LF_HEADER + head32[0] - 1] == '\n';
    }
    pos += ALIGN(LF_HEADER + (uint64_t) head32[0], 8);
  }
}

void lf_state_recover(lf_tenant *const *tenants, uint32_t n_tenants) {
  lf_tenants_recount(&hdr->budget, hdr->memory, tenants, n_tenants);
  for (uint32_t i = 0; i < n_tenants; i++) {
    recover_ring(tenants[i]);
    // Writers that waited for space died with the agent; their requests come again.
    tenants[i]->stats[LF_ST_WAITING] = 0;
    tenants[i]->stats[LF_ST_WAITING_BYTES] = 0;
    // Nobody is told of a ring whose flag is already on: the new reader looks at every ring once instead.
    tenants[i]->ctl[LF_CTL_ANNOUNCED] = 0;
  }
  n_done = 0;
  for (uint32_t i = 0; i < LF_MAX_INTENTS; i++) {
    lf_intent *w = lf_state_intent(i);
    if (!w->armed) continue;
    lf_source_rec *r = lf_state_source(w->source);
    if (w->cursor != LF_NO_CURSOR && r != NULL && r->s.next > w->cursor) done[n_done++] = w->unique;
    w->armed = 0;
  }
}

int lf_state_resend_done(uint64_t unique) {
  for (uint32_t i = 0; i < n_done; i++) {
    uint64_t want = unique;
    if (unique != 0 && __atomic_compare_exchange_n(&done[i], &want, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return 1;
  }
  return 0;
}

static lf_meta *meta(uint64_t i) { return (lf_meta *) (base + OFF_META(i)); }

static uint64_t meta_room(void) { return LF_META_BYTES - sizeof(lf_meta); }

void lf_state_meta(const uint8_t **snapshot, uint64_t *snapshot_len, const uint8_t **journal, uint64_t *journal_len) {
  lf_meta *m = meta(__atomic_load_n(&hdr->meta_live, __ATOMIC_ACQUIRE));
  *snapshot = m->bytes;
  *snapshot_len = m->snapshot_len;
  *journal = m->bytes + m->snapshot_len;
  *journal_len = __atomic_load_n(&m->journal_len, __ATOMIC_ACQUIRE);
}

int lf_state_meta_append(const uint8_t *bytes, uint32_t len) {
  lf_meta *m = meta(hdr->meta_live);
  uint64_t at = m->snapshot_len + m->journal_len;
  if (at + sizeof len + len > meta_room()) return -1;
  memcpy(m->bytes + at, &len, sizeof len);
  memcpy(m->bytes + at + sizeof len, bytes, len);
  __atomic_store_n(&m->journal_len, m->journal_len + sizeof len + len, __ATOMIC_RELEASE);
  return 0;
}

int lf_state_meta_snapshot(const uint8_t *bytes, uint64_t len) {
  if (len > meta_room()) return -1;
  uint64_t other = hdr->meta_live ^ 1;
  lf_meta *m = meta(other);
  memcpy(m->bytes, bytes, len);
  m->snapshot_len = len;
  m->journal_len = 0;
  __atomic_store_n(&hdr->meta_live, other, __ATOMIC_RELEASE);
  return 0;
}
