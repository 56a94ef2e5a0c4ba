// The state a restarted agent takes over (state.h): opening it, and its namespace snapshot and journal.
#include "js.h"

/**
 * stateOpen(fd or -1, memory, tailBytes) → { takeover, gen, takeovers, memory, tenants: [[name, capacity, policy,
 * reserve]], sources: [path] }; throws with the reason when the state cannot be used. After a takeover the rings
 * and sources are the dead agent's, recovered (lf_state_recover).
 */
napi_value js_state_open(napi_env env, napi_callback_info info) {
  ARGS(3);
  double v[3];
  if (numbers(env, argv, 0, 3, v) != 0) return NULL;
  char error[256];
  int found = lf_state_open((int) v[0], (uint64_t) v[1], (uint64_t) v[2], error, sizeof error);
  if (found < 0) return throw_msg(env, error);
  lf_state_header *h = lf_state();
  napi_value out, list;
  CHECK(napi_create_object(env, &out));
  napi_set_named_property(env, out, "takeover", number(env, found == LF_STATE_TAKEOVER));
  napi_set_named_property(env, out, "gen", number(env, h->gen));
  napi_set_named_property(env, out, "takeovers", number(env, (double) h->takeovers));
  napi_set_named_property(env, out, "memory", number(env, (double) h->memory));
  CHECK(napi_create_array_with_length(env, h->n_tenants, &list));
  for (uint32_t i = 0; i < h->n_tenants; i++) {
    int64_t *ctl;
    uint8_t *data;
    lf_tenant_rec *r = lf_state_tenant(i, &ctl, &data);
    if (add_tenant(r, ctl, data) != 0) return throw_msg(env, "stateOpen: out of memory");
    napi_value t, name;
    napi_create_array_with_length(env, 4, &t);
    napi_create_string_utf8(env, r->name, NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, t, 0, name);
    napi_set_element(env, t, 1, number(env, (double) r->capacity));
    napi_set_element(env, t, 2, number(env, r->policy));
    napi_set_element(env, t, 3, number(env, (double) r->reserve));
    napi_set_element(env, list, i, t);
  }
  napi_set_named_property(env, out, "tenants", list);
  CHECK(napi_create_array_with_length(env, h->n_sources, &list));
  for (uint32_t i = 0; i < h->n_sources; i++) {
    lf_source_rec *r = lf_state_source(i);
    r->s.tenant = r->tenant >= 0 && (uint32_t) r->tenant < lf_glue.n_tenants ? lf_glue.tenants[r->tenant] : NULL;
    napi_value path;
    napi_create_string_utf8(env, lf_state_source_path(r), r->path_len, &path);
    napi_set_element(env, list, i, path);
  }
  napi_set_named_property(env, out, "sources", list);
  if (found == LF_STATE_TAKEOVER) lf_state_recover(lf_glue.tenants, lf_glue.n_tenants);
  return out;
}

/** stateGen(gen): the cursor generation the sources in the state go on with */
napi_value js_state_gen(napi_env env, napi_callback_info info) {
  ARGS(1);
  double gen;
  if (numbers(env, argv, 0, 1, &gen) != 0) return NULL;
  if (!lf_state()) return throw_msg(env, "stateGen: open the state first");
  lf_state()->gen = gen;
  return undefined(env);
}

/** metaRead() → [snapshot, journal]: copies of the live namespace snapshot and the journal after it */
napi_value js_meta_read(napi_env env, napi_callback_info info) {
  (void) info;
  if (!lf_state()) return throw_msg(env, "metaRead: open the state first");
  const uint8_t *snapshot, *journal;
  uint64_t snapshot_len, journal_len;
  lf_state_meta(&snapshot, &snapshot_len, &journal, &journal_len);
  napi_value arr, s, j;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  if ((s = buffer_copy(env, snapshot, snapshot_len)) == NULL || (j = buffer_copy(env, journal, journal_len)) == NULL) {
    return NULL;
  }
  napi_set_element(env, arr, 0, s);
  napi_set_element(env, arr, 1, j);
  return arr;
}

/** metaAppend(bytes) / metaSnapshot(bytes) → false when the slot is full */
static napi_value meta_write(napi_env env, napi_callback_info info, int snapshot) {
  ARGS(1);
  size_t len;
  uint8_t *bytes = typed_data(env, argv[0], &len);
  if ((bytes == NULL && len != 0) || !lf_state()) return throw_msg(env, "meta: expected a Uint8Array, state open");
  int rc = snapshot ? lf_state_meta_snapshot(bytes, len) : lf_state_meta_append(bytes, (uint32_t) len);
  napi_value b;
  napi_get_boolean(env, rc == 0, &b);
  return b;
}

napi_value js_meta_append(napi_env env, napi_callback_info info) { return meta_write(env, info, 0); }
napi_value js_meta_snapshot(napi_env env, napi_callback_info info) { return meta_write(env, info, 1); }
