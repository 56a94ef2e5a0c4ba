// Conversions between N-API values and C for the bindings (js.h).
#include "js.h"

napi_value throw_last(napi_env env) {
  const napi_extended_error_info *info;
  napi_get_last_error_info(env, &info);
  napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "N-API call failed");
  return NULL;
}

napi_value throw_msg(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

int get_double(napi_env env, napi_value v, double *out) {
  return napi_get_value_double(env, v, out) == napi_ok ? 0 : -1;
}

/** Reads `n` numeric arguments from argv[from] on into `out`; -1 (with an exception) if one is not a number. */
int numbers(napi_env env, napi_value *argv, size_t from, size_t n, double *out) {
  for (size_t i = 0; i < n; i++) {
    if (get_double(env, argv[from + i], &out[i]) != 0) {
      napi_throw_type_error(env, NULL, "expected a number");
      return -1;
    }
  }
  return 0;
}

void *typed_data(napi_env env, napi_value v, size_t *bytes) {
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value buffer;
  *bytes = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok) return NULL;
  size_t unit = type == napi_bigint64_array || type == napi_biguint64_array || type == napi_float64_array ? 8
    : type == napi_int32_array || type == napi_uint32_array || type == napi_float32_array ? 4
    : type == napi_int16_array || type == napi_uint16_array ? 2 : 1;
  *bytes = length * unit;
  return data;
}

int get_prop_double(napi_env env, napi_value obj, const char *key, double *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  return get_double(env, v, out);
}

napi_value buffer_copy(napi_env env, const uint8_t *bytes, uint64_t len) {
  napi_value b;
  void *into;
  if (napi_create_buffer_copy(env, (size_t) len, len ? bytes : (const uint8_t *) "", &into, &b) != napi_ok) {
    return throw_last(env);
  }
  return b;
}
