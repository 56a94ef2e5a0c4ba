// The constants and named counters TypeScript reads from the native core (constants.h). Each table below is the
// only place its names meet their C values; test/contract.test.ts checks TypeScript knows exactly these names.
#include "constants.h"

#include <stddef.h>

#include "../protocol.h"
#include "intake.h"
#include "session.h"

typedef struct named { const char *name; double value; } named;

#define COUNT(a) (sizeof (a) / sizeof *(a))

static const named ring[] = {
  { "header", LF_HEADER }, { "pad", LF_PAD }, { "controlBytes", LF_CONTROL_BYTES }, { "ctlSlots", LF_CTL_SLOTS },
  { "statCount", LF_ST_COUNT }, { "full", LF_FULL },
};
static const named ctl[] = {
  { "head", LF_CTL_HEAD }, { "tail", LF_CTL_TAIL }, { "announced", LF_CTL_ANNOUNCED }, { "borrowed", LF_CTL_BORROWED },
};
static const named stat[] = {
  { "bytesIn", LF_ST_BYTES_IN }, { "linesIn", LF_ST_LINES_IN }, { "writes", LF_ST_WRITES },
  { "droppedBytes", LF_ST_DROPPED_BYTES }, { "droppedWrites", LF_ST_DROPPED_WRITES },
  { "blockedWrites", LF_ST_BLOCKED_WRITES }, { "waiting", LF_ST_WAITING }, { "waitingBytes", LF_ST_WAITING_BYTES },
};
static const named policy[] = { { "block", LF_BLOCK }, { "drop", LF_DROP } };
static const named op[] = {
  { "lookup", LF_OP_LOOKUP }, { "forget", LF_OP_FORGET }, { "getattr", LF_OP_GETATTR }, { "setattr", LF_OP_SETATTR },
  { "mkdir", LF_OP_MKDIR }, { "unlink", LF_OP_UNLINK }, { "rmdir", LF_OP_RMDIR }, { "rename", LF_OP_RENAME },
  { "open", LF_OP_OPEN }, { "create", LF_OP_CREATE }, { "release", LF_OP_RELEASE }, { "fsync", LF_OP_FSYNC },
  { "readdir", LF_OP_READDIR },
};
static const named set_attr[] = {
  { "mode", LF_SET_MODE }, { "uid", LF_SET_UID }, { "gid", LF_SET_GID }, { "size", LF_SET_SIZE },
  { "atime", LF_SET_ATIME }, { "mtime", LF_SET_MTIME }, { "atimeNow", LF_SET_ATIME_NOW },
  { "mtimeNow", LF_SET_MTIME_NOW },
};
static const named protocol_numbers[] = {
  { "channelFd", LF_CHANNEL_FD }, { "fuseFd", LF_FUSE_FD }, { "stateFd", LF_STATE_FD },
  { "exitHandedOver", LF_EXIT_HANDED_OVER }, { "exitRenew", LF_EXIT_RENEW },
};
static const struct { const char *name, *value; } protocol_strings[] = {
  { "envFuseFd", LF_ENV_FUSE_FD }, { "envStateFd", LF_ENV_STATE_FD }, { "envRenewals", LF_ENV_RENEWALS },
  { "envGenFloor", LF_ENV_GEN_FLOOR }, { "envLogLevel", LF_ENV_LOG_LEVEL },
  { "signalHandOver", LF_SIGNAL_HAND_OVER_NAME }, { "eventMounted", LF_EVENT_MOUNTED },
  { "eventStopping", LF_EVENT_STOPPING }, { "eventRestarting", LF_EVENT_RESTARTING },
  { "eventHandedOver", LF_EVENT_HANDED_OVER },
};

/** Sets the `n` numbers of `table` on `obj` by name; -1 when N-API fails. */
static int set_numbers(napi_env env, napi_value obj, const named *table, size_t n) {
  napi_value v;
  for (size_t i = 0; i < n; i++) {
    if (napi_create_double(env, table[i].value, &v) != napi_ok ||
        napi_set_named_property(env, obj, table[i].name, v) != napi_ok) return -1;
  }
  return 0;
}

/** A new object, set as `key` of `into`; -1 when N-API fails. */
static int child(napi_env env, napi_value into, const char *key, napi_value *obj) {
  return napi_create_object(env, obj) != napi_ok || napi_set_named_property(env, into, key, *obj) != napi_ok ? -1 : 0;
}

napi_value lf_constants(napi_env env) {
  napi_value out, r, p, o, v;
  if (napi_create_object(env, &out) != napi_ok ||
      child(env, out, "ring", &r) || set_numbers(env, r, ring, COUNT(ring)) ||
      child(env, r, "ctl", &o) || set_numbers(env, o, ctl, COUNT(ctl)) ||
      child(env, r, "stat", &o) || set_numbers(env, o, stat, COUNT(stat)) ||
      child(env, out, "policy", &o) || set_numbers(env, o, policy, COUNT(policy)) ||
      child(env, out, "op", &o) || set_numbers(env, o, op, COUNT(op)) ||
      child(env, out, "setAttr", &o) || set_numbers(env, o, set_attr, COUNT(set_attr)) ||
      child(env, out, "protocol", &p) || set_numbers(env, p, protocol_numbers, COUNT(protocol_numbers))) return NULL;
  for (size_t i = 0; i < COUNT(protocol_strings); i++) {
    if (napi_create_string_utf8(env, protocol_strings[i].value, NAPI_AUTO_LENGTH, &v) != napi_ok ||
        napi_set_named_property(env, p, protocol_strings[i].name, v) != napi_ok) return NULL;
  }
  return out;
}
