// The ring producer: where a write's bytes enter its tenant's ring, on whichever thread answers the write.
// Plain C with pthreads only (no libfuse, no N-API), so it is tested on its own under AddressSanitizer
// (test/native/producer_test.c).
//
// The ring is shared with JavaScript, which reads it (lib/ring/records.ts, with the numbers below as constants.c
// exports them) and frees it.
// Record layout, 8-byte aligned, at `pos % capacity`:
//   u32 dataLength | u32 sourceId | f64 cursor offset | f64 timestamp (ms since epoch) | data bytes
// A record never wraps: when fewer than LF_HEADER bytes remain before the end, both sides skip to the start;
// when the header fits but the data does not, the producer writes a PAD record to the end.
#ifndef LOGFS_INTAKE_H
#define LOGFS_INTAKE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"

#define LF_HEADER 24
#define LF_PAD 0xffffffffu
/** lf_intake_write: the ring is full (or its tenant cannot borrow) under the block policy and the caller may not wait. */
#define LF_FULL 1
/** lf_intake_write flags: wait for space under the block policy (a FUSE thread; never JS). */
#define LF_WAIT 1
/** lf_intake_write flags: bytes the kernel already took (writeback mode): a stop does not refuse them. */
#define LF_FORCE 2

enum lf_policy { LF_BLOCK = 0, LF_DROP = 1 };

/** Slots of a tenant's control block (int64), shared with JS (lib/ring/ring.ts, by the names constants.c gives). */
/** LF_CTL_BORROWED: bytes the tenant holds on loan from the shared pool (budget.h). */
enum lf_ctl { LF_CTL_HEAD = 0, LF_CTL_TAIL = 1, LF_CTL_ANNOUNCED = 2, LF_CTL_BORROWED = 3, LF_CTL_SLOTS = 4 };
/** Counters (double), after the control slots in the same shared block; JS reads them without locking. */
enum lf_stat {
  LF_ST_BYTES_IN, LF_ST_LINES_IN, LF_ST_WRITES, LF_ST_DROPPED_BYTES, LF_ST_DROPPED_WRITES, LF_ST_BLOCKED_WRITES,
  LF_ST_WAITING, LF_ST_WAITING_BYTES, LF_ST_COUNT
};
/** Bytes of the shared control block: control slots, then counters. */
#define LF_CONTROL_BYTES (8 * (LF_CTL_SLOTS + LF_ST_COUNT))

typedef struct lf_tenant {
  pthread_mutex_t mu;
  /** Signalled when space is freed, the policy changes or waiting writes are failed. */
  pthread_cond_t space;
  uint8_t *data;
  uint64_t capacity;
  int64_t *ctl;
  double *stats;
  /** Producer position; published to ctl[LF_CTL_HEAD] after each record. */
  uint64_t head;
  int policy;
  /** Waiting writers take a ticket and go in ticket order (a write behind a waiting one waits too). */
  uint64_t ticket_next, ticket_serve;
  /** Bumped by lf_intake_fail_waiting: a waiter that sees it change leaves with fail_errno. */
  uint64_t fail_epoch;
  int fail_errno;
  /** Its side of the shared budget (budget.h). */
  lf_loan loan;
} lf_tenant;

/** A log stream. Its cursor counts every byte ever written to it, accepted or dropped. Guarded by its tenant. */
typedef struct lf_source {
  lf_tenant *tenant; /* NULL: the tenant got no ring (memory budget spent), writes fail with ENOSPC */
  uint64_t next;
  uint32_t id;
  int line_ended;
  int skipping;
} lf_source;

/** lf_intake.closed: a stop began; only a write that continues an unfinished line goes in (lf_intake_write). */
#define LF_CLOSING 1
/** lf_intake.closed, writeback mode: LF_CLOSING and the stop's seal is over; no file takes new bytes (writeback.h). */
#define LF_CLOSED 3

typedef struct lf_intake {
  /** 0, LF_CLOSING or LF_CLOSED: bits, set and never cleared, so closing again keeps a seal's LF_CLOSED. */
  int closed;
  /** Called, outside any lock, when a tenant's ring got bytes while it was not announced (ctl ANNOUNCED 0 → 1). */
  void (*on_data)(void *arg);
  void *on_data_arg;
} lf_intake;

void lf_tenant_init(lf_tenant *t, uint8_t *data, uint64_t capacity, int64_t *ctl, int policy);
void lf_tenant_destroy(lf_tenant *t);
void lf_tenant_set_policy(lf_tenant *t, int policy);
/**
 * Wakes writers waiting for space; call after JS stored a new tail. Gives back to the shared pool what the tenant
 * no longer needs, and returns true when writers of other tenants may wait for it (wake them all then).
 */
int lf_tenant_wake(lf_tenant *t);
/** Fails every write waiting in this tenant with `errno_` (> 0), e.g. at shutdown. */
void lf_tenant_fail_waiting(lf_tenant *t, int errno_);
/**
 * After a takeover, before any FUSE thread runs, with each tenant under `b`: recounts the budget of `memory`
 * bytes from what the rings hold (lf_budget_recount).
 */
void lf_tenants_recount(lf_budget *b, uint64_t memory, lf_tenant *const *tenants, uint32_t n_tenants);

/**
 * Takes one write of a shipped file: 0 when its bytes are in the ring (or counted as dropped), a negative errno
 * when refused, or LF_FULL when the ring is full under the block policy and LF_WAIT is not in `flags`. With
 * LF_WAIT the calling thread waits, in arrival order, for acknowledgements to free space.
 */
int lf_intake_write(lf_intake *ix, lf_source *s, const uint8_t *bytes, size_t len, int flags);

/**
 * When set, the thread's next accepted write stores here the cursor its bytes start at, under the tenant's lock
 * just before they go in. ops.c points it at the write's intent (state.h), so that after a crash the write
 * is known to be in a ring or not: no other write of the source can go in between (they need the same lock).
 */
extern __thread uint64_t *lf_intake_mark;

/** Largest data length of one record: it must always fit in an empty ring, with room to spare. */
uint64_t lf_max_record_data(const lf_tenant *t);

#endif
