// The mount's bindings: mount and unmount, the writeback stop's blocking steps, the C side's counters.
#include <fcntl.h>
#include <stdlib.h>

#include "js.h"

/** mount(mountpoint, { writeback, flushMs, maxWrite, cacheSeconds }, dispatch, onData) */
napi_value js_mount(napi_env env, napi_callback_info info) {
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
  lf_js *g = &lf_glue;
  CHECK(napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, lf_js_call, &g->ops_fn));
  CHECK(napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, NULL, lf_js_data, &g->data_fn));
  g->intake.on_data = lf_js_on_data;
  __atomic_store_n(&g->mounted, 1, __ATOMIC_RELEASE);
  lf_session_options o = {
    .mountpoint = mnt, .writeback = writeback != 0, .flush_ms = (unsigned) flush_ms, .max_write = (unsigned) max_write,
    .cache_s = cache_s, .dispatch = lf_js_dispatch, .dispatch_arg = NULL, .fuse_fd = (int) fuse_fd,
    .takeover = takeover != 0,
  };
  char error[256];
  if (lf_session_start(&o, &g->intake, error, sizeof error) != 0) {
    __atomic_store_n(&g->mounted, 0, __ATOMIC_RELEASE);
    napi_release_threadsafe_function(g->ops_fn, napi_tsfn_abort);
    napi_release_threadsafe_function(g->data_fn, napi_tsfn_abort);
    return throw_msg(env, error);
  }
  return undefined(env);
}

napi_value js_unmount(napi_env env, napi_callback_info info) {
  (void) info;
  if (!__atomic_exchange_n(&lf_glue.mounted, 0, __ATOMIC_ACQ_REL)) return undefined(env);
  lf_session_stop();
  napi_release_threadsafe_function(lf_glue.ops_fn, napi_tsfn_abort);
  napi_release_threadsafe_function(lf_glue.data_fn, napi_tsfn_abort);
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
napi_value js_seal(napi_env env, napi_callback_info info) {
  ARGS(2);
  double max_ms;
  if (numbers(env, argv, 0, 1, &max_ms) != 0) return NULL;
  return queue_blocking(env, argv[1], max_ms, lf_session_seal, "logfs-seal");
}

/** quiesce(done): ends the writeback flusher before a handover (session.h), then done. */
napi_value js_quiesce(napi_env env, napi_callback_info info) {
  ARGS(1);
  return queue_blocking(env, argv[0], 0, lf_session_quiesce, "logfs-quiesce");
}

/** counts() → { refusedNames, writes, reads, tailBytes, reorderBytes }: the C side's counters by name (native.ts, Counts). */
napi_value js_counts(napi_env env, napi_callback_info info) {
  (void) info;
  double refused, writes, reads, reorder;
  lf_session_counts(&refused, &writes, &reads, &reorder);
  const struct { const char *name; double value; } counts[] = {
    { "refusedNames", refused }, { "writes", writes }, { "reads", reads },
    { "tailBytes", (double) lf_files_tail_bytes() }, { "reorderBytes", reorder },
  };
  napi_value out;
  CHECK(napi_create_object(env, &out));
  for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
    CHECK(napi_set_named_property(env, out, counts[i].name, number(env, counts[i].value)));
  }
  return out;
}
