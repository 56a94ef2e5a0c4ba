// The shared ring budget (lib/native/fuse/budget.h) on rings of its own: borrowing past the reserve, a spent pool
// refusing like a full ring (FULL, or whole lines dropped), an empty ring always taking its write, a release giving
// back, a writer of one tenant waiting on the pool woken by another tenant's release, and the recount after a
// takeover. Run by producer_test.c.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "tests.h"
#include "intake.h"

#define CAP 4096u

typedef struct bring {
  uint8_t *data;
  int64_t ctl[LF_CONTROL_BYTES / 8];
  lf_tenant t;
  lf_source s;
} bring;

static void bring_init(bring *r, lf_budget *b, uint64_t reserve, int policy, uint32_t id) {
  memset(r, 0, sizeof *r);
  r->data = calloc(1, CAP);
  lf_tenant_init(&r->t, r->data, CAP, r->ctl, policy);
  lf_budget_attach(&r->t.loan, b, reserve);
  r->s.tenant = &r->t;
  r->s.id = id;
  r->s.line_ended = 1;
}

static void bring_free(bring *r) {
  lf_tenant_destroy(&r->t);
  free(r->data);
}

/** What Intake.release does: the tail, then a wake of this tenant and, when told to, of every tenant. */
static void release_all(bring *r, bring *const *all, int n) {
  __atomic_store_n(&r->ctl[LF_CTL_TAIL], r->ctl[LF_CTL_HEAD], __ATOMIC_RELEASE);
  if (lf_tenant_wake(&r->t)) for (int i = 0; i < n; i++) lf_tenant_wake(&all[i]->t);
}

static uint64_t held(bring *r) { return (uint64_t) (r->ctl[LF_CTL_HEAD] - r->ctl[LF_CTL_TAIL]); }

/** 100-byte lines: records of 128 bytes. */
static const uint8_t *line(void) {
  static uint8_t l[100];
  memset(l, 'b', sizeof l);
  l[99] = '\n';
  return l;
}

typedef struct waiter {
  pthread_t thread;
  bring *r;
  int rc;
} waiter;

static void *waiter_main(void *arg) {
  waiter *w = arg;
  lf_intake ix = { 0 };
  w->rc = lf_intake_write(&ix, &w->r->s, line(), 100, LF_WAIT);
  return NULL;
}

void budget_pool(void) {
  // Two tenants of 4 KiB rings, 1 KiB reserves, a budget of 3 KiB: a pool of 1 KiB once both reserves are out.
  lf_budget b = { .free = 3072 };
  lf_intake ix = { 0 };
  bring fl, qu;
  bring *all[2] = { &fl, &qu };
  bring_init(&fl, &b, 1024, LF_BLOCK, 1);
  b.free -= 1024;
  bring_init(&qu, &b, 1024, LF_BLOCK, 2);
  b.free -= 1024;
  int rc;
  while ((rc = lf_intake_write(&ix, &fl.s, line(), 100, 0)) == 0) {}
  CHECK_EQ(rc, LF_FULL, "past its reserve and the pool, a block write answers FULL");
  CHECK_EQ(held(&fl), 2048, "the flooding tenant holds its reserve and the whole pool, 16 records");
  CHECK_EQ(fl.ctl[LF_CTL_BORROWED], 1024, "its loan");
  CHECK_EQ(b.free, 0, "the pool is spent");
  for (int i = 0; i < 8; i++) CHECK_EQ(lf_intake_write(&ix, &qu.s, line(), 100, 0), 0, "the quiet tenant's reserve");
  CHECK_EQ(lf_intake_write(&ix, &qu.s, line(), 100, 0), LF_FULL, "past it, the spent pool is its limit too");
  CHECK_EQ(qu.ctl[LF_CTL_BORROWED], 0, "it borrowed nothing");

  // A waiter of the quiet tenant is woken by the flooding tenant's release, which refills the pool.
  waiter w = { .r = &qu, .rc = 12345 };
  pthread_create(&w.thread, NULL, waiter_main, &w);
  for (int i = 0; i < 10000 && __atomic_load_n(&b.waiters, __ATOMIC_SEQ_CST) == 0; i++) {
    nanosleep(&(struct timespec) { .tv_nsec = 1000000 }, NULL);
  }
  CHECK_EQ(__atomic_load_n(&b.waiters, __ATOMIC_SEQ_CST), 1, "the writer waits on the pool");
  release_all(&fl, all, 2);
  pthread_join(w.thread, NULL);
  CHECK_EQ(w.rc, 0, "and goes in once another tenant's release gave bytes back");
  CHECK_EQ(fl.ctl[LF_CTL_BORROWED], 0, "the release returned the whole loan");
  CHECK_EQ(qu.ctl[LF_CTL_BORROWED], 128, "which the quiet tenant now borrows from");
  CHECK_EQ(b.free, 1024 - 128, "out of the pool");
  CHECK_EQ(b.waiters, 0, "nobody waits");

  // An empty ring takes its write whatever the pool: a write larger than the reserve never waits forever.
  b.free = -4096;
  release_all(&fl, all, 2);
  CHECK_EQ(lf_intake_write(&ix, &fl.s, line(), 100, 0), 0, "an empty ring with an overdrawn pool");
  CHECK_EQ(held(&fl), 128, "holds its write");

  // The drop policy drops whole lines when the pool is spent, and keeps `spare` of the pool for started lines.
  lf_tenant_set_policy(&fl.t, LF_DROP);
  b.free = 0;
  for (int i = 0; i < 20; i++) lf_intake_write(&ix, &fl.s, line(), 100, 0);
  CHECK_EQ(held(&fl), 1024, "drop: the reserve holds 8 lines, the one before and 7 of these");
  CHECK_EQ(fl.t.stats[LF_ST_DROPPED_BYTES], 1300, "the other 13 are dropped whole");

  // A takeover recounts the loans from what the rings hold and the pool from the budget.
  fl.ctl[LF_CTL_BORROWED] = 999;
  qu.ctl[LF_CTL_BORROWED] = 0;
  b.free = 7;
  b.waiters = 3;
  lf_tenant *ts[2] = { &fl.t, &qu.t };
  lf_tenants_recount(&b, 3072, ts, 2);
  CHECK_EQ(fl.ctl[LF_CTL_BORROWED], 0, "a ring within its reserve owes nothing");
  CHECK_EQ(qu.ctl[LF_CTL_BORROWED], held(&qu) - 1024, "one past it owes the excess");
  CHECK_EQ(b.free, 3072 - 2048 - (int64_t) (held(&qu) - 1024), "the pool: budget less reserves less loans");
  CHECK_EQ(b.waiters, 0, "the dead agent's waiters are gone");
  bring_free(&fl);
  bring_free(&qu);
}
