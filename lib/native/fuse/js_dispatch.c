// FUSE ops handed to JS: a libfuse thread queues each lf_call (session.h) to the dispatcher through a thread-safe
// function, and new ring bytes wake the JS reader through another.
#include <errno.h>
#include <stdio.h>

#include "js.h"

void lf_js_call(napi_env env, napi_value fn, void *context, void *data) {
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

void lf_js_dispatch(lf_call *c, void *arg) {
  (void) arg;
  if (!__atomic_load_n(&lf_glue.mounted, __ATOMIC_ACQUIRE) ||
      napi_call_threadsafe_function(lf_glue.ops_fn, c, napi_tsfn_blocking) != napi_ok) {
    if (c->req) lf_reply_err(c->req, ENOTCONN);
    lf_call_free(c);
  }
}

void lf_js_data(napi_env env, napi_value fn, void *context, void *data) {
  (void) context;
  (void) data;
  if (env == NULL) return;
  if (napi_call_function(env, undefined(env), fn, 0, NULL, NULL) != napi_ok) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
  }
}

void lf_js_on_data(void *arg) {
  (void) arg;
  if (__atomic_load_n(&lf_glue.mounted, __ATOMIC_ACQUIRE)) {
    napi_call_threadsafe_function(lf_glue.data_fn, NULL, napi_tsfn_nonblocking);
  }
}
