// The json fast path's N-API surface: one function, flatFields, which lib/logql/fields.ts types. An addon of its own,
// loaded by the scan workers, that links nothing of the agent's or the store's C.
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdlib.h>
#include <string.h>

#include "flat.h"

/* The most names one call takes, and the longest name: fields.ts reads both from `constants`. */
#define MAX_NAMES 64
#define MAX_NAME_BYTES 254

static napi_value throw_msg(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* Each set of values as an array of the field values as written (strings with their quotes), null where absent. */
static napi_value sets_array(napi_env env, const uint8_t *data, const struct lf_sets *sets) {
  napi_value out, set, v;
  napi_create_array_with_length(env, sets->count, &out);
  for (size_t i = 0; i < sets->count; i++) {
    napi_create_array_with_length(env, sets->n_names, &set);
    for (size_t j = 0; j < sets->n_names; j++) {
      const struct lf_span *s = &sets->spans[i * sets->n_names + j];
      if (s->len < 0) napi_get_null(env, &v);
      else napi_create_string_latin1(env, (const char *)data + s->start, (size_t)s->len, &v);
      napi_set_element(env, set, (uint32_t)j, v);
    }
    napi_set_element(env, out, (uint32_t)i, set);
  }
  return out;
}

/* flatFields(data: Uint8Array, names: string[]) → { ids: Int32Array, ends: Int32Array, sets: (string|null)[][] }
 * (flat.h). */
static napi_value js_flat_fields(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *data = NULL;
  size_t len = 0, off;
  napi_typedarray_type type;
  napi_value ab;
  uint32_t n_names = 0;
  bool is_array = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_typedarray_info(env, argv[0], &type, &len, &data, &ab, &off) != napi_ok ||
      type != napi_uint8_array || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &n_names) != napi_ok) {
    return throw_msg(env, "flatFields: expected (Uint8Array, string[])");
  }
  if (n_names > MAX_NAMES) return throw_msg(env, "flatFields: more names than MAX_NAMES");
  /* Names are plain ASCII (fields.ts passes no other), so latin1 is their bytes. */
  if (len > INT32_MAX) return throw_msg(env, "flatFields: data over 2 GiB");
  /* Room for one byte more than a name may have, so that a longer one shows (napi truncates it). */
  static __thread char name_bytes[MAX_NAMES][MAX_NAME_BYTES + 2];
  const char *name_at[MAX_NAMES];
  size_t lens[MAX_NAMES];
  for (uint32_t j = 0; j < n_names; j++) {
    napi_value name;
    napi_get_element(env, argv[1], j, &name);
    if (napi_get_value_string_latin1(env, name, name_bytes[j], MAX_NAME_BYTES + 2, &lens[j]) != napi_ok) {
      return throw_msg(env, "flatFields: a name is not a string");
    }
    if (lens[j] > MAX_NAME_BYTES) return throw_msg(env, "flatFields: a name of more than 254 bytes");
    name_at[j] = name_bytes[j];
  }
  struct lf_names names = { n_names, name_at, lens };
  size_t lines = lf_count_lines(data, len);
  void *ids, *ends;
  napi_value ids_buffer, ends_buffer, ids_array, ends_array, result;
  napi_create_arraybuffer(env, lines * sizeof(int32_t), &ids, &ids_buffer);
  napi_create_arraybuffer(env, lines * sizeof(int32_t), &ends, &ends_buffer);
  struct lf_sets sets;
  memset(&sets, 0, sizeof sets);
  if (lf_flat_lines(data, len, &names, &sets, ids, ends) != 0) {
    lf_sets_free(&sets);
    return throw_msg(env, "flatFields: out of memory");
  }
  napi_create_typedarray(env, napi_int32_array, lines, ids_buffer, 0, &ids_array);
  napi_create_typedarray(env, napi_int32_array, lines, ends_buffer, 0, &ends_array);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "ids", ids_array);
  napi_set_named_property(env, result, "ends", ends_array);
  napi_set_named_property(env, result, "sets", sets_array(env, data, &sets));
  lf_sets_free(&sets);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "flatFields", NULL, js_flat_fields, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  napi_value constants, v;
  napi_create_object(env, &constants);
  const struct { const char *name; int32_t value; } c[] = {
    { "NOT_FLAT", LF_NOT_FLAT }, { "MAX_NAMES", MAX_NAMES }, { "MAX_NAME_BYTES", MAX_NAME_BYTES },
  };
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    napi_create_int32(env, c[i].value, &v);
    napi_set_named_property(env, constants, c[i].name, v);
  }
  napi_set_named_property(env, exports, "constants", constants);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
