// The files' entries (files.h) JS creates, truncates and frees.
#include <errno.h>

#include "js.h"

/** fileAdd(ino, sourceId or -1, slot in the state, restore: 1 for a file a dead agent served) */
napi_value js_file_add(napi_env env, napi_callback_info info) {
  ARGS(4);
  double v[4];
  if (numbers(env, argv, 0, 4, v) != 0) return NULL;
  lf_source *s = NULL;
  if (v[1] >= 0 && (s = source_arg(env, argv[1])) == NULL) return NULL;
  lf_file_rec *rec = lf_state() && v[2] >= 0 ? lf_state_file((uint32_t) v[2]) : NULL;
  if (rec == NULL) return throw_msg(env, "fileAdd: no such file slot in the state");
  // The state's tail size, which a takeover keeps, not --tail-size (the same unless an upgrade changed it).
  int rc = lf_files_add((uint64_t) v[0], s, lf_state()->tail_cap, rec, v[3] != 0, lf_state_tail((uint32_t) v[2]));
  if (rc != 0) return throw_msg(env, rc == -ENOMEM ? "fileAdd: out of memory" : "fileAdd: inode number too large");
  return undefined(env);
}

napi_value js_file_remove(napi_env env, napi_callback_info info) {
  ARGS(1);
  double ino;
  if (numbers(env, argv, 0, 1, &ino) != 0) return NULL;
  lf_files_remove((uint64_t) ino);
  return undefined(env);
}

/** fileTruncate(ino, size, nowMs) → 0 or a negative errno */
napi_value js_file_truncate(napi_env env, napi_callback_info info) {
  ARGS(3);
  double v[3];
  if (numbers(env, argv, 0, 3, v) != 0) return NULL;
  lf_file *f = lf_files_get((uint64_t) v[0]);
  if (f == NULL) return number(env, -EBADF);
  return number(env, lf_file_truncate(f, (uint64_t) v[1], v[2]));
}

/** fileSize(ino) → bytes, or -1 when the inode has no file entry */
napi_value js_file_size(napi_env env, napi_callback_info info) {
  ARGS(1);
  double ino;
  if (numbers(env, argv, 0, 1, &ino) != 0) return NULL;
  lf_file *f = lf_files_get((uint64_t) ino);
  if (f == NULL) return number(env, -1);
  uint64_t size;
  double mtime;
  lf_file_state(f, &size, &mtime);
  return number(env, (double) size);
}
