// See shared.h.
#include "shared.h"

#include <v8.h>

#include <cstring>

napi_value lf_shared_array_buffer(napi_env env, void *data, size_t length) {
  (void) env;
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  std::shared_ptr<v8::BackingStore> store = v8::SharedArrayBuffer::NewBackingStore(data, length,
    [](void *, size_t, void *) {}, nullptr);
  v8::Local<v8::Value> buffer = v8::SharedArrayBuffer::New(isolate, store);
  // A napi_value is a v8::Local in Node's N-API (v8impl::JsValueFromV8LocalValue does this same copy); the
  // handle lives in the scope of the N-API call that asked for it.
  napi_value out;
  static_assert(sizeof out == sizeof buffer, "napi_value and v8::Local have the same size");
  std::memcpy(&out, &buffer, sizeof out);
  return out;
}
