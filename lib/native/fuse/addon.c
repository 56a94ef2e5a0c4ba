// The N-API surface of the native core: the one place JavaScript and C meet. native.ts types it.
// It replaces fuse-native (which binds libfuse 2's high-level API and sends every op, writes included, through
// the JS thread): ops other than write and read are queued to JS through a thread-safe function and answered
// from there, and the request handle travels as a number.
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "constants.h"
#include "files.h"
#include "intake.h"
#include "session.h"
#include "shared.h"
#include "state.h"

static lf_intake intake;
static napi_threadsafe_function ops_fn, data_fn;
static int mounted;

static lf_tenant **tenants;
static uint32_t n_tenants;

#define CHECK(call) do { if ((call) != napi_ok) return throw_last(env); } while (0)

static napi_value throw_last(napi_env env) {
  const napi_extended_error_info *info;
  napi_get_last_error_info(env, &info);
  napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "N-API call failed");
  return NULL;
}

static napi_value throw_msg(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

static napi_value number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static int get_double(napi_env env, napi_value v, double *out) {
  return napi_get_value_double(env, v, out) == napi_ok ? 0 : -1;
}

/** Reads `n` numeric arguments from argv[from] on into `out`; -1 (with an exception) if one is not a number. */
static int numbers(napi_env env, napi_value *argv, size_t from, size_t n, double *out) {
  for (size_t i = 0; i < n; i++) {
    if (get_double(env, argv[from + i], &out[i]) != 0) {
      napi_throw_type_error(env, NULL, "expected a number");
      return -1;
    }
  }
  return 0;
}

#define ARGS(n) \
  size_t argc = n; \
  napi_value argv[n]; \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  if (argc < n) return throw_msg(env, "too few arguments")

static void *typed_data(napi_env env, napi_value v, size_t *bytes) {
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

// --- FUSE ops handed to JS ---

static void call_js(napi_env env, napi_value fn, void *context, void *data) {
  (void) context;
  lf_call *c = data;
  if (env == NULL) {
    if (c->req) lf_reply_err(c->req, EIO);
    lf_call_free(c);
    return;
  }
  napi_value argv[14];
  napi_value null;
  napi_get_null(env, &null);
  argv[0] = number(env, c->op);
  argv[1] = number(env, (double) (uintptr_t) c->req);
  argv[2] = number(env, (double) c->ino);
  argv[3] = null;
  if (c->name) napi_create_string_utf8(env, c->name, NAPI_AUTO_LENGTH, &argv[3]);
  argv[4] = number(env, (double) c->ino2);
  argv[5] = null;
  if (c->name2) napi_create_string_utf8(env, c->name2, NAPI_AUTO_LENGTH, &argv[5]);
  const double rest[7] = { c->a, c->b, c->c, c->d, c->e, c->f, c->g };
  for (int i = 0; i < 7; i++) argv[6 + i] = number(env, rest[i]);
  argv[13] = number(env, c->resent);
  napi_status status = napi_call_function(env, undefined(env), fn, 14, argv, NULL);
  if (status != napi_ok) {
    // The dispatcher catches its own errors; one escaping here must not leave the caller hanging.
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    fprintf(stderr, "logfs native: op %d failed in JavaScript\n", c->op);
    if (c->req) lf_reply_err(c->req, EIO);
  }
  lf_call_free(c);
}

static void dispatch(lf_call *c, void *arg) {
  (void) arg;
  if (!__atomic_load_n(&mounted, __ATOMIC_ACQUIRE) ||
      napi_call_threadsafe_function(ops_fn, c, napi_tsfn_blocking) != napi_ok) {
    if (c->req) lf_reply_err(c->req, ENOTCONN);
    lf_call_free(c);
  }
}

static void data_js(napi_env env, napi_value fn, void *context, void *data) {
  (void) context;
  (void) data;
  if (env == NULL) return;
  if (napi_call_function(env, undefined(env), fn, 0, NULL, NULL) != napi_ok) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
  }
}

static void on_data(void *arg) {
  (void) arg;
  if (__atomic_load_n(&mounted, __ATOMIC_ACQUIRE)) napi_call_threadsafe_function(data_fn, NULL, napi_tsfn_nonblocking);
}

static int get_prop_double(napi_env env, napi_value obj, const char *key, double *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  return get_double(env, v, out);
}

/** mount(mountpoint, { writeback, flushMs, maxWrite, cacheSeconds }, dispatch, onData) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(4);
  char mnt[4096];
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], mnt, sizeof mnt, &len));
  double writeback, flush_ms, max_write, cache_s, fuse_fd, takeover;
  if (get_prop_double(env, argv[1], "writeback", &writeback) || get_prop_double(env, argv[1], "flushMs", &flush_ms) ||
      get_prop_double(env, argv[1], "maxWrite", &max_write) ||
      get_prop_double(env, argv[1], "cacheSeconds", &cache_s) || get_prop_double(env, argv[1], "fuseFd", &fuse_fd) ||
      get_prop_double(env, argv[1], "takeover", &takeover)) {
    return throw_msg(env, "mount options: writeback, flushMs, maxWrite, cacheSeconds, fuseFd and takeover must be numbers");
  }
  if (!lf_state()) return throw_msg(env, "mount: open the state first (stateOpen)");
  // Children of the agent (mount helpers) must not hold the connection open.
  if (fuse_fd >= 0 && fcntl((int) fuse_fd, F_SETFD, FD_CLOEXEC) != 0) return throw_msg(env, "mount: fuseFd is not open");
  napi_value name;
  napi_create_string_utf8(env, "logfs-fuse", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &ops_fn));
  CHECK(napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, NULL, data_js, &data_fn));
  intake.on_data = on_data;
  __atomic_store_n(&mounted, 1, __ATOMIC_RELEASE);
  lf_session_options o = {
    .mountpoint = mnt, .writeback = writeback != 0, .flush_ms = (unsigned) flush_ms, .max_write = (unsigned) max_write,
    .cache_s = cache_s, .dispatch = dispatch, .dispatch_arg = NULL, .fuse_fd = (int) fuse_fd, .takeover = takeover != 0,
  };
  char error[256];
  if (lf_session_start(&o, &intake, error, sizeof error) != 0) {
    __atomic_store_n(&mounted, 0, __ATOMIC_RELEASE);
    napi_release_threadsafe_function(ops_fn, napi_tsfn_abort);
    napi_release_threadsafe_function(data_fn, napi_tsfn_abort);
    return throw_msg(env, error);
  }
  return undefined(env);
}

static napi_value js_unmount(napi_env env, napi_callback_info info) {
  (void) info;
  if (!__atomic_exchange_n(&mounted, 0, __ATOMIC_ACQ_REL)) return undefined(env);
  lf_session_stop();
  napi_release_threadsafe_function(ops_fn, napi_tsfn_abort);
  napi_release_threadsafe_function(data_fn, napi_tsfn_abort);
  return undefined(env);
}

/** A session call that may wait (for FUSE requests to be answered), run on a libuv worker thread. */
typedef struct blocking_work {
  napi_async_work work;
  napi_ref done;
  double max_ms;
  void (*run)(unsigned max_ms);
} blocking_work;

static void blocking_execute(napi_env env, void *data) {
  blocking_work *w = data;
  w->run((unsigned) w->max_ms);
}

static void blocking_complete(napi_env env, napi_status status, void *data) {
  (void) status;
  blocking_work *w = data;
  napi_value done;
  if (napi_get_reference_value(env, w->done, &done) == napi_ok) napi_call_function(env, undefined(env), done, 0, NULL, NULL);
  napi_delete_reference(env, w->done);
  napi_delete_async_work(env, w->work);
  free(w);
}

/** Runs `run(max_ms)` off the JS thread, then calls `done` on it. */
static napi_value queue_blocking(napi_env env, napi_value done, double max_ms, void (*run)(unsigned), const char *what) {
  blocking_work *w = calloc(1, sizeof *w);
  if (w == NULL) return throw_msg(env, "out of memory");
  w->max_ms = max_ms;
  w->run = run;
  napi_value name;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_reference(env, done, 1, &w->done));
  CHECK(napi_create_async_work(env, NULL, name, blocking_execute, blocking_complete, w, &w->work));
  CHECK(napi_queue_async_work(env, w->work));
  return undefined(env);
}

/** seal(maxMs, done): the writeback stop's seal (session.h), then done. */
static napi_value js_seal(napi_env env, napi_callback_info info) {
  ARGS(2);
  double max_ms;
  if (numbers(env, argv, 0, 1, &max_ms) != 0) return NULL;
  return queue_blocking(env, argv[1], max_ms, lf_session_seal, "logfs-seal");
}

/** quiesce(done): ends the writeback flusher before a handover (session.h), then done. */
static napi_value js_quiesce(napi_env env, napi_callback_info info) {
  ARGS(1);
  return queue_blocking(env, argv[0], 0, lf_session_quiesce, "logfs-quiesce");
}

// --- replies ---

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

static napi_value js_reply_err(napi_env env, napi_callback_info info) {
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

static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  return reply_with_attr(env, info, lf_reply_entry);
}

static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  return reply_with_attr(env, info, lf_reply_attr);
}

static napi_value js_reply_create(napi_env env, napi_callback_info info) {
  ARGS(11);
  double req, fh;
  lf_attr a;
  if (read_attr(env, argv, &req, &a) != 0 || numbers(env, argv, 10, 1, &fh) != 0) return NULL;
  lf_reply_create(req_of(req), &a, (uint64_t) fh);
  return undefined(env);
}

static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  double v[2];
  if (numbers(env, argv, 0, 2, v) != 0) return NULL;
  lf_reply_open(req_of(v[0]), (uint64_t) v[1]);
  return undefined(env);
}

/** replyDir(req, size, offset, names: string[], inos: Float64Array, modes: Uint32Array) */
static napi_value js_reply_dir(napi_env env, napi_callback_info info) {
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

// --- rings, sources, files ---

/** Adds a tenant's ring (in the state) to the table, under the state's budget; -1 when out of memory. */
static int add_tenant(const lf_tenant_rec *r, int64_t *ctl, uint8_t *data) {
  lf_tenant **grown = realloc(tenants, (n_tenants + 1) * sizeof *grown);
  lf_tenant *t = malloc(sizeof *t);
  if (grown == NULL || t == NULL) {
    free(t);
    if (grown) tenants = grown;
    return -1;
  }
  tenants = grown;
  lf_tenant_init(t, data, r->capacity, ctl, (int) r->policy);
  lf_budget_attach(t, &lf_state()->budget, r->reserve);
  tenants[n_tenants++] = t;
  return 0;
}

/** tenantNew(name, capacity, reserve, policy) → index, or -1 when the state has no room for the ring */
static napi_value js_tenant_new(napi_env env, napi_callback_info info) {
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
  return number(env, n_tenants - 1);
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
  return index_arg(env, v, n_tenants, "no such tenant", &i) == 0 ? tenants[i] : NULL;
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

static napi_value js_tenant_policy(napi_env env, napi_callback_info info) {
  return with_tenant_int(env, info, lf_tenant_set_policy);
}

static napi_value js_tenant_wake(napi_env env, napi_callback_info info) {
  ARGS(1);
  lf_tenant *t = tenant_arg(env, argv[0]);
  if (t == NULL) return NULL;
  // Bytes back in the shared pool may be what a writer of any tenant waits for.
  if (lf_tenant_wake(t)) for (uint32_t i = 0; i < n_tenants; i++) lf_tenant_wake(tenants[i]);
  return undefined(env);
}

static napi_value js_tenant_fail(napi_env env, napi_callback_info info) {
  return with_tenant_int(env, info, lf_tenant_fail_waiting);
}

/** tenantBuffers(index) → [data, control]: SharedArrayBuffers over the ring in the state */
static napi_value js_tenant_buffers(napi_env env, napi_callback_info info) {
  ARGS(1);
  uint32_t i;
  if (index_arg(env, argv[0], n_tenants, "no such tenant", &i) != 0) return NULL;
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
static napi_value js_tenant_discard(napi_env env, napi_callback_info info) {
  ARGS(3);
  uint32_t i;
  double from, len;
  if (index_arg(env, argv[0], n_tenants, "no such tenant", &i) != 0) return NULL;
  if (get_double(env, argv[1], &from) != 0 || get_double(env, argv[2], &len) != 0) return NULL;
  int err = lf_state_tenant_discard(i, (uint64_t)from, (uint64_t)len);
  return err == 0 ? undefined(env) : throw_msg(env, strerror(err));
}

/** sourceNew(tenant index or -1 for none, path) → id (ids count up from 0 in the state) */
static napi_value js_source_new(napi_env env, napi_callback_info info) {
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

static lf_source *source_arg(napi_env env, napi_value v) {
  uint32_t i;
  uint32_t count = lf_state() ? lf_state()->n_sources : 0;
  return index_arg(env, v, count, "no such source", &i) == 0 ? &lf_state_source(i)->s : NULL;
}

/** sourceNext(id) → the cursor offset of the source's next byte */
static napi_value js_source_next(napi_env env, napi_callback_info info) {
  ARGS(1);
  lf_source *s = source_arg(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->tenant) pthread_mutex_lock(&s->tenant->mu);
  double next = (double) s->next;
  if (s->tenant) pthread_mutex_unlock(&s->tenant->mu);
  return number(env, next);
}

/** write(sourceId, bytes) → 0, a negative errno, or 1 (FULL: the block policy would wait; JS never waits). */
static napi_value js_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  lf_source *s = source_arg(env, argv[0]);
  size_t len;
  uint8_t *bytes = typed_data(env, argv[1], &len);
  if (s == NULL) return NULL;
  if (bytes == NULL && len != 0) return throw_msg(env, "write: bytes must be a Uint8Array");
  return number(env, lf_intake_write(&intake, s, bytes, len, 0));
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  (void) info;
  __atomic_fetch_or(&intake.closed, LF_CLOSING, __ATOMIC_ACQ_REL);
  return undefined(env);
}

/** fileAdd(ino, sourceId or -1, slot in the state, restore: 1 for a file a dead agent served) */
static napi_value js_file_add(napi_env env, napi_callback_info info) {
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

static napi_value js_file_remove(napi_env env, napi_callback_info info) {
  ARGS(1);
  double ino;
  if (numbers(env, argv, 0, 1, &ino) != 0) return NULL;
  lf_files_remove((uint64_t) ino);
  return undefined(env);
}

/** fileTruncate(ino, size, nowMs) → 0 or a negative errno */
static napi_value js_file_truncate(napi_env env, napi_callback_info info) {
  ARGS(3);
  double v[3];
  if (numbers(env, argv, 0, 3, v) != 0) return NULL;
  lf_file *f = lf_files_get((uint64_t) v[0]);
  if (f == NULL) return number(env, -EBADF);
  return number(env, lf_file_truncate(f, (uint64_t) v[1], v[2]));
}

/** fileSize(ino) → bytes, or -1 when the inode has no file entry */
static napi_value js_file_size(napi_env env, napi_callback_info info) {
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

// --- the state a restarted agent takes over (state.h) ---

/**
 * stateOpen(fd or -1, memory, tailBytes) → { takeover, gen, takeovers, memory, tenants: [[name, capacity, policy,
 * reserve]], sources: [path] }; throws with the reason when the state cannot be used. After a takeover the rings
 * and sources are the dead agent's, recovered (lf_state_recover).
 */
static napi_value js_state_open(napi_env env, napi_callback_info info) {
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
    r->s.tenant = r->tenant >= 0 && (uint32_t) r->tenant < n_tenants ? tenants[r->tenant] : NULL;
    napi_value path;
    napi_create_string_utf8(env, lf_state_source_path(r), r->path_len, &path);
    napi_set_element(env, list, i, path);
  }
  napi_set_named_property(env, out, "sources", list);
  if (found == LF_STATE_TAKEOVER) lf_state_recover(tenants, n_tenants);
  return out;
}

/** stateGen(gen): the cursor generation the sources in the state go on with */
static napi_value js_state_gen(napi_env env, napi_callback_info info) {
  ARGS(1);
  double gen;
  if (numbers(env, argv, 0, 1, &gen) != 0) return NULL;
  if (!lf_state()) return throw_msg(env, "stateGen: open the state first");
  lf_state()->gen = gen;
  return undefined(env);
}

static napi_value buffer_copy(napi_env env, const uint8_t *bytes, uint64_t len) {
  napi_value b;
  void *into;
  if (napi_create_buffer_copy(env, (size_t) len, len ? bytes : (const uint8_t *) "", &into, &b) != napi_ok) {
    return throw_last(env);
  }
  return b;
}

/** metaRead() → [snapshot, journal]: copies of the live namespace snapshot and the journal after it */
static napi_value js_meta_read(napi_env env, napi_callback_info info) {
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

static napi_value js_meta_append(napi_env env, napi_callback_info info) { return meta_write(env, info, 0); }
static napi_value js_meta_snapshot(napi_env env, napi_callback_info info) { return meta_write(env, info, 1); }

// --- exec ---

/**
 * exec(file, args): replaces this process with `file` (argv[0] = file), keeping its pid; returns only by throwing.
 * Node 20 has no process.execve, and `logfs mount` must become its supervisor without a Node left around it.
 */
static napi_value js_exec(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint32_t n;
  CHECK(napi_get_array_length(env, argv[1], &n));
  char **args = calloc(n + 2, sizeof *args);
  if (args == NULL) return throw_msg(env, "exec: out of memory");
  int failed = 0;
  for (uint32_t i = 0; i <= n && !failed; i++) {
    napi_value s = argv[0];
    size_t len;
    failed = (i > 0 && napi_get_element(env, argv[1], i - 1, &s) != napi_ok) ||
      napi_get_value_string_utf8(env, s, NULL, 0, &len) != napi_ok || (args[i] = malloc(len + 1)) == NULL ||
      napi_get_value_string_utf8(env, s, args[i], len + 1, &len) != napi_ok;
  }
  char message[4200];
  if (failed) {
    snprintf(message, sizeof message, "exec: expected (file: string, args: string[])");
  } else {
    // Node marks stdin, stdout and stderr close-on-exec; the new program is to write where this one did.
    int fd_flags[3];
    for (int fd = 0; fd < 3; fd++) {
      fd_flags[fd] = fcntl(fd, F_GETFD);
      if (fd_flags[fd] > 0) fcntl(fd, F_SETFD, fd_flags[fd] & ~FD_CLOEXEC);
    }
    execv(args[0], args);
    int err = errno;
    for (int fd = 0; fd < 3; fd++) if (fd_flags[fd] > 0) fcntl(fd, F_SETFD, fd_flags[fd]);
    snprintf(message, sizeof message, "exec %s: %s", args[0], strerror(err));
  }
  for (uint32_t i = 0; i <= n; i++) free(args[i]);
  free(args);
  return throw_msg(env, message);
}

#define EXPORT(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    EXPORT("mount", js_mount), EXPORT("unmount", js_unmount), EXPORT("seal", js_seal), EXPORT("quiesce", js_quiesce),
    EXPORT("counts", lf_js_counts), EXPORT("replyErr", js_reply_err), EXPORT("replyEntry", js_reply_entry),
    EXPORT("replyAttr", js_reply_attr), EXPORT("replyCreate", js_reply_create), EXPORT("replyOpen", js_reply_open),
    EXPORT("replyDir", js_reply_dir), EXPORT("tenantNew", js_tenant_new), EXPORT("tenantPolicy", js_tenant_policy),
    EXPORT("tenantWake", js_tenant_wake), EXPORT("tenantFailWaiting", js_tenant_fail),
    EXPORT("tenantBuffers", js_tenant_buffers), EXPORT("tenantDiscard", js_tenant_discard), EXPORT("stateOpen", js_state_open), EXPORT("stateGen", js_state_gen),
    EXPORT("metaRead", js_meta_read), EXPORT("metaAppend", js_meta_append), EXPORT("metaSnapshot", js_meta_snapshot),
    EXPORT("sourceNew", js_source_new), EXPORT("sourceNext", js_source_next), EXPORT("write", js_write),
    EXPORT("close", js_close), EXPORT("fileAdd", js_file_add), EXPORT("fileRemove", js_file_remove),
    EXPORT("fileTruncate", js_file_truncate), EXPORT("fileSize", js_file_size), EXPORT("exec", js_exec),
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  napi_value constants = lf_constants(env);
  if (constants == NULL) return throw_last(env);
  napi_set_named_property(env, exports, "constants", constants);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
