// The N-API surface of the native core: the one place JavaScript and C meet. native.ts types it.
// It replaces fuse-native (which binds libfuse 2's high-level API and sends every op, writes included, through
// the JS thread): ops other than write and read are queued to JS through a thread-safe function and answered
// from there, and the request handle travels as a number.
// Each binding lives in the js_*.c file of its job (js.h); this file is the module's init and exports table.
#include "constants.h"
#include "js.h"

/** The glue's one instance (js.h). */
lf_js lf_glue;

#define EXPORT(name, fn) { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    EXPORT("mount", js_mount), EXPORT("unmount", js_unmount), EXPORT("seal", js_seal), EXPORT("quiesce", js_quiesce),
    EXPORT("counts", js_counts), EXPORT("replyErr", js_reply_err), EXPORT("replyEntry", js_reply_entry),
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
