// What a restarted agent takes over: one shared memory file that the supervisor holds across agents
// (a memfd, never a disk), mapped whole by each agent. It carries everything the kernel or the ring already
// refers to when an agent dies: the rings with their unacknowledged bytes, each source's cursor, each file's
// size and readable tail, the writes a FUSE thread had taken but not answered, the raw INIT request the new
// agent replays, and the namespace, as a snapshot plus a journal that lib/fs/journal.ts writes.
//
// Layout, version 2 (every offset fixed by the version; the file is sparse, untouched pages cost nothing):
//   0         header (lf_state_header), with the shared ring budget (budget.h)
//   8 KiB     tenants[LF_MAX_TENANTS]   ring offset, capacity, reserve, policy, name
//   ...       intents[LF_MAX_INTENTS]   one per FUSE thread: the write it is answering
//   128 KiB   sources[LF_MAX_SOURCES]   lf_source (cursor, line state) + tenant index + path
//   ...       files[LF_MAX_FILES]       size, mtime, writeback shipped offset, by the slot JS gives a file
//   ...       names                     source paths, appended
//   ...       meta[2]                   namespace snapshot + journal; the header says which one is live
//   ...       rings                     each tenant's control block then its data, carved at its cap in creation
//                                       order from LF_RING_SPACE bytes of address space, whatever --memory is
//                                       (version 1 carved them from --memory)
//   ...       tails[LF_MAX_FILES]       each file slot's readable tail, tail_cap bytes (page-aligned)
// A writer publishes a count or an offset only after the bytes it covers, so an agent killed at any point leaves
// a state the next one can read; what it cannot know exactly it recovers (lf_state_recover).
#ifndef LOGFS_STATE_H
#define LOGFS_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "files.h"
#include "intake.h"

#define LF_STATE_VERSION 2
#define LF_MAX_TENANTS 4096
/** Address space for the rings: 4096 rings of 64 MiB on average. Only pages holding bytes are resident. */
#define LF_RING_SPACE (256ull << 30)
#define LF_MAX_INTENTS 1024
#define LF_MAX_SOURCES (1u << 20)
#define LF_MAX_FILES (1u << 18)
#define LF_NAMES_BYTES (64u << 20)
#define LF_META_BYTES (64u << 20)
#define LF_INIT_BYTES 512
#define LF_TENANT_NAME 256
/** A cursor not set yet (lf_intent.cursor). */
#define LF_NO_CURSOR UINT64_MAX

typedef struct lf_state_header {
  char magic[8];
  uint32_t version;
  /** Set once the mount exists: a later agent takes over instead of mounting. */
  uint32_t mounted;
  uint64_t total_bytes;
  /** The budget of bytes all rings hold together (--memory), and each file's tail (a multiple of the page size). */
  uint64_t memory;
  uint64_t tail_cap;
  /** Cursor generation of the sources below: a takeover keeps it, since their cursors go on. */
  double gen;
  uint32_t n_tenants, n_sources;
  uint64_t names_used;
  uint64_t rings_used;
  /** Which meta slot is live (0 or 1). */
  uint64_t meta_live;
  /** Agents that took over this state, for the metrics. */
  uint64_t takeovers;
  uint32_t init_len;
  uint32_t pad;
  uint8_t init[LF_INIT_BYTES];
  lf_budget budget;
} lf_state_header;

typedef struct lf_tenant_rec {
  uint64_t ring_off, capacity, reserve;
  uint32_t policy, pad;
  char name[LF_TENANT_NAME];
} lf_tenant_rec;

/** A FUSE thread's write between taking it and answering it; `unique` is the kernel's request id. */
typedef struct lf_intent {
  uint64_t unique;
  /** The source's cursor just before the write's bytes went in (set under the tenant's lock by intake.c). */
  uint64_t cursor;
  uint32_t source;
  uint32_t armed;
} lf_intent;

typedef struct lf_source_rec {
  lf_source s;
  int32_t tenant;
  uint32_t path_len;
  uint64_t path_off;
} lf_source_rec;

typedef struct lf_meta {
  uint64_t snapshot_len, journal_len;
  uint8_t pad[48];
  uint8_t bytes[];
} lf_meta;

/** How lf_state_open found the state. */
enum lf_state_found { LF_STATE_FRESH = 0, LF_STATE_TAKEOVER = 1 };

/**
 * Maps the state: from `fd` (the supervisor's memfd; -1 makes a private one, which no later agent sees) with a
 * budget of `memory` bytes held by all rings together (budget.h) and tails of `tail_cap` bytes (rounded up to pages). A state taken over keeps the
 * sizes it was made with. Returns lf_state_found, or -1 with the reason in `error` (a version this build does not
 * know, a layout that does not match): the caller falls back to a fresh mount.
 */
int lf_state_open(int fd, uint64_t memory, uint64_t tail_cap, char *error, size_t error_len);
lf_state_header *lf_state(void);

/**
 * A new tenant's ring in the state, of `capacity` bytes of which `reserve` are its own (the rest borrowed from the
 * budget's pool): its control block and data; NULL when the tenant table or the address space is spent.
 */
lf_tenant_rec *lf_state_tenant_new(const char *name, uint64_t capacity, uint64_t reserve, int policy, int64_t **ctl,
  uint8_t **data);
lf_tenant_rec *lf_state_tenant(uint32_t index, int64_t **ctl, uint8_t **data);
/**
 * Gives the pages wholly inside [from, from + len) of a ring's data back to the system: 0, or an errno. Only for
 * acknowledged bytes the producer cannot reach yet (before the tail that frees them is published).
 */
int lf_state_tenant_discard(uint32_t index, uint64_t from, uint64_t len);
/** A new source of a tenant (-1: none), with its path; NULL when the table or the names area is full. */
lf_source_rec *lf_state_source_new(int32_t tenant, const char *path, size_t path_len);
lf_source_rec *lf_state_source(uint32_t id);
const char *lf_state_source_path(const lf_source_rec *r);
lf_file_rec *lf_state_file(uint32_t slot);
/** The tail buffer of a file slot, lf_state()->tail_cap bytes. */
uint8_t *lf_state_tail(uint32_t slot);
lf_intent *lf_state_intent(uint32_t thread);

/** Keeps the raw INIT request, once, for the agents after this one. */
void lf_state_keep_init(const void *buf, size_t len);

/**
 * After a takeover, before any FUSE thread runs, with each tenant under the state's budget: recounts the budget
 * (lf_tenants_recount), moves each source's cursor past every record its ring holds
 * (the agent may have died between publishing a record and advancing the cursor), then notes which of the dead
 * agent's unanswered writes did go in, so their resent requests are answered without taking the bytes twice.
 */
void lf_state_recover(lf_tenant *const *tenants, uint32_t n_tenants);
/** True (once) when a resent write with this request id went into a ring before the agent that took it died. */
int lf_state_resend_done(uint64_t unique);

/** The live namespace snapshot and journal. */
void lf_state_meta(const uint8_t **snapshot, uint64_t *snapshot_len, const uint8_t **journal, uint64_t *journal_len);
/** Appends one journal record; -1 when the slot is full (write a snapshot then). */
int lf_state_meta_append(const uint8_t *bytes, uint32_t len);
/** Makes `snapshot` the live namespace, with an empty journal, in one atomic switch; -1 when it does not fit. */
int lf_state_meta_snapshot(const uint8_t *bytes, uint64_t len);

#endif
