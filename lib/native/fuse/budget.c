// The shared ring budget (see budget.h).
#include "budget.h"

#include "intake.h"

static int64_t held(const lf_tenant *t) {
  return (int64_t) (t->head - (uint64_t) __atomic_load_n(&t->ctl[LF_CTL_TAIL], __ATOMIC_ACQUIRE));
}

/** What the tenant must have borrowed to hold `bytes`. */
static int64_t loan_for(const lf_tenant *t, int64_t bytes) {
  return bytes > (int64_t) t->reserve ? bytes - (int64_t) t->reserve : 0;
}

void lf_budget_attach(lf_tenant *t, lf_budget *b, uint64_t reserve) {
  t->budget = b;
  t->reserve = reserve;
}

int lf_budget_take(lf_tenant *t, uint64_t n, uint64_t spare) {
  if (t->budget == NULL) return 1;
  int64_t before = held(t);
  int64_t *borrowed = &t->ctl[LF_CTL_BORROWED];
  int64_t extra = loan_for(t, before + (int64_t) n) - __atomic_load_n(borrowed, __ATOMIC_RELAXED);
  if (extra <= 0) return 1;
  int64_t free = __atomic_load_n(&t->budget->free, __ATOMIC_SEQ_CST);
  do {
    if (before > 0 && free < extra + (int64_t) spare) return 0;
  } while (!__atomic_compare_exchange_n(&t->budget->free, &free, free - extra, 0, __ATOMIC_SEQ_CST,
    __ATOMIC_SEQ_CST));
  __atomic_add_fetch(borrowed, extra, __ATOMIC_RELEASE);
  return 1;
}

int lf_budget_settle(lf_tenant *t) {
  if (t->budget == NULL) return 0;
  int64_t *borrowed = &t->ctl[LF_CTL_BORROWED];
  int64_t back = __atomic_load_n(borrowed, __ATOMIC_RELAXED) - loan_for(t, held(t));
  if (back <= 0) return 0;
  __atomic_sub_fetch(borrowed, back, __ATOMIC_RELEASE);
  // The pool grows before the waiters are read, and a waiter counts itself before it looks at the pool (both
  // sequentially consistent): either it sees these bytes or this sees it, so no waiter sleeps through them.
  __atomic_add_fetch(&t->budget->free, back, __ATOMIC_SEQ_CST);
  return __atomic_load_n(&t->budget->waiters, __ATOMIC_SEQ_CST) > 0;
}

void lf_budget_waiting(lf_tenant *t, int delta) {
  if (t->budget != NULL) __atomic_add_fetch(&t->budget->waiters, delta, __ATOMIC_SEQ_CST);
}

void lf_budget_recount(lf_budget *b, uint64_t memory, lf_tenant *const *tenants, uint32_t n_tenants) {
  int64_t free = (int64_t) memory;
  for (uint32_t i = 0; i < n_tenants; i++) {
    lf_tenant *t = tenants[i];
    int64_t loan = t->budget == b ? loan_for(t, held(t)) : 0;
    t->ctl[LF_CTL_BORROWED] = loan;
    free -= loan + (int64_t) t->reserve;
  }
  b->free = free;
  b->waiters = 0;
}
