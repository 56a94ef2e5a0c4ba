// The shared ring budget (see budget.h).
#include "budget.h"

#include <stddef.h>

/** What the tenant must have borrowed to hold `bytes`. */
static int64_t loan_for(const lf_loan *l, int64_t bytes) {
  return bytes > (int64_t) l->reserve ? bytes - (int64_t) l->reserve : 0;
}

void lf_budget_attach(lf_loan *l, lf_budget *b, uint64_t reserve) {
  l->budget = b;
  l->reserve = reserve;
}

int lf_budget_take(lf_loan *l, int64_t held, uint64_t n, uint64_t spare) {
  if (l->budget == NULL) return 1;
  int64_t before = held;
  int64_t *borrowed = l->borrowed;
  int64_t extra = loan_for(l, before + (int64_t) n) - __atomic_load_n(borrowed, __ATOMIC_RELAXED);
  if (extra <= 0) return 1;
  int64_t free = __atomic_load_n(&l->budget->free, __ATOMIC_SEQ_CST);
  do {
    if (before > 0 && free < extra + (int64_t) spare) return 0;
  } while (!__atomic_compare_exchange_n(&l->budget->free, &free, free - extra, 0, __ATOMIC_SEQ_CST,
    __ATOMIC_SEQ_CST));
  __atomic_add_fetch(borrowed, extra, __ATOMIC_RELEASE);
  return 1;
}

int lf_budget_settle(lf_loan *l, int64_t held) {
  if (l->budget == NULL) return 0;
  int64_t *borrowed = l->borrowed;
  int64_t back = __atomic_load_n(borrowed, __ATOMIC_RELAXED) - loan_for(l, held);
  if (back <= 0) return 0;
  __atomic_sub_fetch(borrowed, back, __ATOMIC_RELEASE);
  // The pool grows before the waiters are read, and a waiter counts itself before it looks at the pool (both
  // sequentially consistent): either it sees these bytes or this sees it, so no waiter sleeps through them.
  __atomic_add_fetch(&l->budget->free, back, __ATOMIC_SEQ_CST);
  return __atomic_load_n(&l->budget->waiters, __ATOMIC_SEQ_CST) > 0;
}

void lf_budget_waiting(lf_loan *l, int delta) {
  if (l->budget != NULL) __atomic_add_fetch(&l->budget->waiters, delta, __ATOMIC_SEQ_CST);
}

void lf_budget_reset(lf_budget *b, uint64_t memory) {
  b->free = (int64_t) memory;
  b->waiters = 0;
}

void lf_budget_recount(lf_budget *b, lf_loan *l, int64_t held) {
  int64_t loan = l->budget == b ? loan_for(l, held) : 0;
  *l->borrowed = loan;
  b->free -= loan + (int64_t) l->reserve;
}
