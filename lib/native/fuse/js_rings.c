// The rings (one per tenant, in the state) and the sources writing into them, as JS sees them by index.
#include <stdlib.h>
#include <string.h>

#include "js.h"

/** Adds a tenant's ring (in the state) to the table, under the state's budget; -1 when out of memory. */
int add_tenant(const lf_tenant_rec *r, int64_t *ctl, uint8_t *data) {
  lf_tenant **grown = realloc(lf_glue.tenants, (lf_glue.n_tenants + 1) * sizeof *grown);
  lf_tenant *t = malloc(sizeof *t);
  if (grown == NULL || t == NULL) {
    free(t);
    if (grown) lf_glue.tenants = grown;
    return -1;
  }
  lf_glue.tenants = grown;
  lf_tenant_init(t, data, r->capacity, ctl, (int) r->policy);
  lf_budget_attach(&t->loan, &lf_state()->budget, r->reserve);
  lf_glue.tenants[lf_glue.n_tenants++] = t;
  return 0;
}

/** tenantNew(name, capacity, reserve, policy) → index, or -1 when the state has no room for the ring */
napi_value js_tenant_new(napi_env env, napi_callback_info info) {
  ARGS(4);
  char name[LF_TENANT_NAME + 1];
  size_t len;
  double v[3];
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len >= LF_TENANT_NAME ||
      numbers(env, argv, 1, 3, v) != 0) {
    return throw_msg(env, "tenantNew: expected (name of at most 255 bytes, capacity, reserve, policy)");
  }
  int64_t *ctl;
  uint8_t *data;
  if (!lf_state()) return throw_msg(env, "tenantNew: open the state first (stateOpen)");
  lf_tenant_rec *r = lf_state_tenant_new(name, (uint64_t) v[0], (uint64_t) v[1], (int) v[2], &ctl, &data);
  if (r == NULL) return number(env, -1);
  if (add_tenant(r, ctl, data) != 0) return throw_msg(env, "tenantNew: out of memory");
  return number(env, lf_glue.n_tenants - 1);
}

/** 0 with the index `v` names in a table of `count` entries, or -1 with a RangeError saying `what`. */
static int index_arg(napi_env env, napi_value v, uint32_t count, const char *what, uint32_t *index) {
  double i;
  if (get_double(env, v, &i) != 0 || i < 0 || i >= count) {
    napi_throw_range_error(env, NULL, what);
    return -1;
  }
  *index = (uint32_t) i;
  return 0;
}

static lf_tenant *tenant_arg(napi_env env, napi_value v) {
  uint32_t i;
  return index_arg(env, v, lf_glue.n_tenants, "no such tenant", &i) == 0 ? lf_glue.tenants[i] : NULL;
}

/** (tenant, number): tenantPolicy and tenantFailWaiting, answered by `fn`. */
static napi_value with_tenant_int(napi_env env, napi_callback_info info, void (*fn)(lf_tenant *, int)) {
  ARGS(2);
  lf_tenant *t = tenant_arg(env, argv[0]);
  double n;
  if (t == NULL || get_double(env, argv[1], &n) != 0) return NULL;
  fn(t, (int) n);
  return undefined(env);
}

napi_value js_tenant_policy(napi_env env, napi_callback_info info) {
  return with_tenant_int(env, info, lf_tenant_set_policy);
}

napi_value js_tenant_wake(napi_env env, napi_callback_info info) {
  ARGS(1);
  lf_tenant *t = tenant_arg(env, argv[0]);
  if (t == NULL) return NULL;
  // Bytes back in the shared pool may be what a writer of any tenant waits for.
  if (lf_tenant_wake(t)) for (uint32_t i = 0; i < lf_glue.n_tenants; i++) lf_tenant_wake(lf_glue.tenants[i]);
  return undefined(env);
}

napi_value js_tenant_fail(napi_env env, napi_callback_info info) {
  return with_tenant_int(env, info, lf_tenant_fail_waiting);
}

/** tenantBuffers(index) → [data, control]: SharedArrayBuffers over the ring in the state */
napi_value js_tenant_buffers(napi_env env, napi_callback_info info) {
  ARGS(1);
  uint32_t i;
  if (index_arg(env, argv[0], lf_glue.n_tenants, "no such tenant", &i) != 0) return NULL;
  int64_t *ctl;
  uint8_t *data;
  lf_tenant_rec *r = lf_state_tenant(i, &ctl, &data);
  napi_value arr;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  CHECK(napi_set_element(env, arr, 0, lf_shared_array_buffer(env, data, r->capacity)));
  CHECK(napi_set_element(env, arr, 1, lf_shared_array_buffer(env, ctl, LF_CONTROL_BYTES)));
  return arr;
}

/** tenantDiscard(index, from, length): gives back the pages of acknowledged ring bytes (lf_state_tenant_discard) */
napi_value js_tenant_discard(napi_env env, napi_callback_info info) {
  ARGS(3);
  uint32_t i;
  double from, len;
  if (index_arg(env, argv[0], lf_glue.n_tenants, "no such tenant", &i) != 0) return NULL;
  if (get_double(env, argv[1], &from) != 0 || get_double(env, argv[2], &len) != 0) return NULL;
  int err = lf_state_tenant_discard(i, (uint64_t)from, (uint64_t)len);
  return err == 0 ? undefined(env) : throw_msg(env, strerror(err));
}

/** sourceNew(tenant index or -1 for none, path) → id (ids count up from 0 in the state) */
napi_value js_source_new(napi_env env, napi_callback_info info) {
  ARGS(2);
  double ti;
  if (get_double(env, argv[0], &ti) != 0) return NULL;
  lf_tenant *t = NULL;
  if (ti >= 0 && (t = tenant_arg(env, argv[0])) == NULL) return NULL;
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[1], NULL, 0, &len));
  char *path = malloc(len + 1);
  if (path == NULL) return throw_msg(env, "sourceNew: out of memory");
  napi_get_value_string_utf8(env, argv[1], path, len + 1, &len);
  lf_source_rec *r = lf_state() ? lf_state_source_new(ti >= 0 ? (int32_t) ti : -1, path, len) : NULL;
  free(path);
  if (r == NULL) return throw_msg(env, "sourceNew: the state's source table is full");
  r->s.tenant = t;
  return number(env, r->s.id);
}

lf_source *source_arg(napi_env env, napi_value v) {
  uint32_t i;
  uint32_t count = lf_state() ? lf_state()->n_sources : 0;
  return index_arg(env, v, count, "no such source", &i) == 0 ? &lf_state_source(i)->s : NULL;
}

/** sourceNext(id) → the cursor offset of the source's next byte */
napi_value js_source_next(napi_env env, napi_callback_info info) {
  ARGS(1);
  lf_source *s = source_arg(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->tenant) pthread_mutex_lock(&s->tenant->mu);
  double next = (double) s->next;
  if (s->tenant) pthread_mutex_unlock(&s->tenant->mu);
  return number(env, next);
}

/** write(sourceId, bytes) → 0, a negative errno, or 1 (FULL: the block policy would wait; JS never waits). */
napi_value js_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  lf_source *s = source_arg(env, argv[0]);
  size_t len;
  uint8_t *bytes = typed_data(env, argv[1], &len);
  if (s == NULL) return NULL;
  if (bytes == NULL && len != 0) return throw_msg(env, "write: bytes must be a Uint8Array");
  return number(env, lf_intake_write(&lf_glue.intake, s, bytes, len, 0));
}

napi_value js_close(napi_env env, napi_callback_info info) {
  (void) info;
  __atomic_fetch_or(&lf_glue.intake.closed, LF_CLOSING, __ATOMIC_ACQ_REL);
  return undefined(env);
}
