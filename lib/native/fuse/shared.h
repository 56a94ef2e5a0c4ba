// A SharedArrayBuffer over memory the addon owns (the state file's rings, state.h), so the agent's JS and its
// shipping workers read the rings as before. N-API can only wrap outside memory in a plain ArrayBuffer, which
// cannot be shared with worker threads, so this one function uses V8's API (shared.cc).
#ifndef LOGFS_SHARED_H
#define LOGFS_SHARED_H

#include <node_api.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** `data` must stay mapped for the life of the process: the buffer never frees it. */
napi_value lf_shared_array_buffer(napi_env env, void *data, size_t length);

#ifdef __cplusplus
}
#endif

#endif
