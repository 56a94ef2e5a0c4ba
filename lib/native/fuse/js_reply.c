// The replies JS gives to the ops dispatched to it (js_dispatch.c), passed on to libfuse (session.h).
#include <errno.h>
#include <stdlib.h>

#include "js.h"

static void *req_of(double d) { return (void *) (uintptr_t) d; }

/** (req, ino, mode, nlink, uid, gid, size, atime, mtime, ctime) */
static int read_attr(napi_env env, napi_value *argv, double *req, lf_attr *a) {
  double v[10];
  if (numbers(env, argv, 0, 10, v) != 0) return -1;
  *req = v[0];
  *a = (lf_attr) {
    .ino = (uint64_t) v[1], .mode = (uint32_t) v[2], .nlink = (uint32_t) v[3], .uid = (uint32_t) v[4],
    .gid = (uint32_t) v[5], .size = (uint64_t) v[6], .atime = v[7], .mtime = v[8], .ctime = v[9],
  };
  return 0;
}

napi_value js_reply_err(napi_env env, napi_callback_info info) {
  ARGS(2);
  double v[2];
  if (numbers(env, argv, 0, 2, v) != 0) return NULL;
  lf_reply_err(req_of(v[0]), (int) v[1]);
  return undefined(env);
}

/** replyEntry and replyAttr: the same arguments, answered by `reply`. */
static napi_value reply_with_attr(napi_env env, napi_callback_info info, void (*reply)(void *, const lf_attr *)) {
  ARGS(10);
  double req;
  lf_attr a;
  if (read_attr(env, argv, &req, &a) != 0) return NULL;
  reply(req_of(req), &a);
  return undefined(env);
}

napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  return reply_with_attr(env, info, lf_reply_entry);
}

napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  return reply_with_attr(env, info, lf_reply_attr);
}

napi_value js_reply_create(napi_env env, napi_callback_info info) {
  ARGS(11);
  double req, fh;
  lf_attr a;
  if (read_attr(env, argv, &req, &a) != 0 || numbers(env, argv, 10, 1, &fh) != 0) return NULL;
  lf_reply_create(req_of(req), &a, (uint64_t) fh);
  return undefined(env);
}

napi_value js_reply_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  double v[2];
  if (numbers(env, argv, 0, 2, v) != 0) return NULL;
  lf_reply_open(req_of(v[0]), (uint64_t) v[1]);
  return undefined(env);
}

/** replyDir(req, size, offset, names: string[], inos: Float64Array, modes: Uint32Array) */
napi_value js_reply_dir(napi_env env, napi_callback_info info) {
  ARGS(6);
  double v[3];
  if (numbers(env, argv, 0, 3, v) != 0) return NULL;
  uint32_t count;
  CHECK(napi_get_array_length(env, argv[3], &count));
  size_t ino_bytes, mode_bytes;
  double *inos_d = typed_data(env, argv[4], &ino_bytes);
  uint32_t *modes = typed_data(env, argv[5], &mode_bytes);
  if (inos_d == NULL || modes == NULL || ino_bytes < count * 8u || mode_bytes < count * 4u) {
    return throw_msg(env, "replyDir: inos and modes must cover every name");
  }
  char **names = calloc(count + 1, sizeof *names);
  uint64_t *inos = calloc(count + 1, sizeof *inos);
  int failed = names == NULL || inos == NULL;
  for (uint32_t i = 0; i < count && !failed; i++) {
    napi_value s;
    size_t n;
    inos[i] = (uint64_t) inos_d[i];
    failed = napi_get_element(env, argv[3], i, &s) != napi_ok ||
      napi_get_value_string_utf8(env, s, NULL, 0, &n) != napi_ok || (names[i] = malloc(n + 1)) == NULL ||
      napi_get_value_string_utf8(env, s, names[i], n + 1, &n) != napi_ok;
  }
  if (failed) lf_reply_err(req_of(v[0]), ENOMEM);
  else lf_reply_dir(req_of(v[0]), (size_t) v[1], (off_t) v[2], count, (const char *const *) names, inos, modes);
  for (uint32_t i = 0; names != NULL && i < count; i++) free(names[i]);
  free(names);
  free(inos);
  return undefined(env);
}
