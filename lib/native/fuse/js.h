// The addon's glue between N-API and the C core (addon.c): the argument helpers every binding uses, the state
// the bindings share, and the bindings themselves, one js_*.c file per job.
#ifndef LOGFS_JS_H
#define LOGFS_JS_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

#include "files.h"
#include "intake.h"
#include "session.h"
#include "shared.h"
#include "state.h"

/**
 * What the bindings share. One per process, reached as `lf_glue`: N-API callbacks and the libfuse threads that
 * hand ops to JS carry no pointer of ours, and there is one mount per process (session.h).
 */
typedef struct lf_js {
  lf_intake intake;
  /** The dispatcher and the ring reader's wake-up (js_dispatch.c), live while `mounted`. */
  napi_threadsafe_function ops_fn, data_fn;
  int mounted;
  /** The rings, by the index JS knows them by (js_rings.c). */
  lf_tenant **tenants;
  uint32_t n_tenants;
} lf_js;

extern lf_js lf_glue;

#define CHECK(call) do { if ((call) != napi_ok) return throw_last(env); } while (0)

#define ARGS(n) \
  size_t argc = n; \
  napi_value argv[n]; \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  if (argc < n) return throw_msg(env, "too few arguments")

// js_values.c
napi_value throw_last(napi_env env);
napi_value throw_msg(napi_env env, const char *message);
napi_value undefined(napi_env env);
napi_value number(napi_env env, double d);
int get_double(napi_env env, napi_value v, double *out);
int numbers(napi_env env, napi_value *argv, size_t from, size_t n, double *out);
void *typed_data(napi_env env, napi_value v, size_t *bytes);
int get_prop_double(napi_env env, napi_value obj, const char *key, double *out);
napi_value buffer_copy(napi_env env, const uint8_t *bytes, uint64_t len);

// js_dispatch.c: the thread-safe functions' callbacks, and what the session calls (lf_session_options).
void lf_js_call(napi_env env, napi_value fn, void *context, void *data);
void lf_js_dispatch(lf_call *c, void *arg);
void lf_js_data(napi_env env, napi_value fn, void *context, void *data);
void lf_js_on_data(void *arg);

// js_session.c
napi_value js_mount(napi_env env, napi_callback_info info);
napi_value js_unmount(napi_env env, napi_callback_info info);
napi_value js_seal(napi_env env, napi_callback_info info);
napi_value js_quiesce(napi_env env, napi_callback_info info);
napi_value js_counts(napi_env env, napi_callback_info info);

// js_reply.c
napi_value js_reply_err(napi_env env, napi_callback_info info);
napi_value js_reply_entry(napi_env env, napi_callback_info info);
napi_value js_reply_attr(napi_env env, napi_callback_info info);
napi_value js_reply_create(napi_env env, napi_callback_info info);
napi_value js_reply_open(napi_env env, napi_callback_info info);
napi_value js_reply_dir(napi_env env, napi_callback_info info);

// js_rings.c
int add_tenant(const lf_tenant_rec *r, int64_t *ctl, uint8_t *data);
lf_source *source_arg(napi_env env, napi_value v);
napi_value js_tenant_new(napi_env env, napi_callback_info info);
napi_value js_tenant_policy(napi_env env, napi_callback_info info);
napi_value js_tenant_wake(napi_env env, napi_callback_info info);
napi_value js_tenant_fail(napi_env env, napi_callback_info info);
napi_value js_tenant_buffers(napi_env env, napi_callback_info info);
napi_value js_tenant_discard(napi_env env, napi_callback_info info);
napi_value js_source_new(napi_env env, napi_callback_info info);
napi_value js_source_next(napi_env env, napi_callback_info info);
napi_value js_write(napi_env env, napi_callback_info info);
napi_value js_close(napi_env env, napi_callback_info info);

// js_files.c
napi_value js_file_add(napi_env env, napi_callback_info info);
napi_value js_file_remove(napi_env env, napi_callback_info info);
napi_value js_file_truncate(napi_env env, napi_callback_info info);
napi_value js_file_size(napi_env env, napi_callback_info info);

// js_state.c
napi_value js_state_open(napi_env env, napi_callback_info info);
napi_value js_state_gen(napi_env env, napi_callback_info info);
napi_value js_meta_read(napi_env env, napi_callback_info info);
napi_value js_meta_append(napi_env env, napi_callback_info info);
napi_value js_meta_snapshot(napi_env env, napi_callback_info info);

// js_exec.c
napi_value js_exec(napi_env env, napi_callback_info info);

#endif
