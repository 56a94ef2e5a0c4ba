// The memory budget the rings share (--memory): what lets hundreds of tenants live on one node. A ring is carved
// at its cap in the state's sparse memory file and is resident only for the bytes it holds (acknowledged pages are
// removed), so what the budget bounds is bytes held. Each tenant may always hold its reserve; past it, it borrows
// from one pool (the budget less every tenant's reserve) up to its cap, and gives back as acknowledgements free
// its ring. A flooding tenant thus takes at most its cap, and never another tenant's reserve.
//
// The pool lives in the state's header and each tenant's loan in its ring's control block (LF_CTL_BORROWED), so
// an agent that takes over goes on with them (lf_state_recover recounts both from the rings).
#ifndef LOGFS_BUDGET_H
#define LOGFS_BUDGET_H

#include <stdint.h>

typedef struct lf_budget {
  /** Bytes the pool can still lend; below zero when the reserves alone exceed the budget (nobody borrows then). */
  int64_t free;
  /** Writers waiting (block policy) whose ring is not full but whose tenant could not borrow. */
  int64_t waiters;
} lf_budget;

/** A tenant's side of the budget, in its lf_tenant (intake.h). `held` below is the bytes its ring holds. */
typedef struct lf_loan {
  /** The shared budget (NULL: none) and the bytes this tenant may hold without borrowing from it. */
  lf_budget *budget;
  uint64_t reserve;
  /** The bytes on loan, in the ring's control block (LF_CTL_BORROWED, intake.h). */
  int64_t *borrowed;
} lf_loan;

/** Puts a tenant under `b` with its reserve; a tenant never put under one holds up to its capacity. */
void lf_budget_attach(lf_loan *l, lf_budget *b, uint64_t reserve);

/**
 * Under the tenant's lock, before `n` more ring bytes go in: borrows what they take past the tenant's reserve.
 * True when they may go in. A borrower must leave `spare` bytes in the pool (the drop policy keeps them for lines
 * already begun). An empty ring always takes its write, so a write larger than the reserve never waits forever.
 */
int lf_budget_take(lf_loan *l, int64_t held, uint64_t n, uint64_t spare);

/**
 * Under the tenant's lock, after its tail moved: gives back what it no longer needs. True when something went
 * back while writers wait on the pool: every tenant's waiters must then be woken, not only this one's.
 */
int lf_budget_settle(lf_loan *l, int64_t held);

/**
 * After a takeover, before any FUSE thread runs (lf_tenants_recount, intake.h): the pool from the budget
 * (`memory`), then each tenant's loan from what its ring holds, so that an agent killed between borrowing and
 * noting the loan leaks nothing.
 */
void lf_budget_reset(lf_budget *b, uint64_t memory);
void lf_budget_recount(lf_budget *b, lf_loan *l, int64_t held);

/** Writers of any tenant start (+1) or stop (-1) waiting; see lf_budget.waiters. */
void lf_budget_waiting(lf_loan *l, int delta);

#endif
