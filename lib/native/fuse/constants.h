// What the native core shares with TypeScript by value, exported once (native.constants, typed in native.ts), so
// that TypeScript reads the numbers C was built with instead of writing them down again: the ring's record and
// control layout and counters (intake.h), the ops and setattr bits (session.h), and the agent <-> supervisor
// protocol (../protocol.h).
#ifndef LOGFS_CONSTANTS_H
#define LOGFS_CONSTANTS_H

#define NAPI_VERSION 8
#include <node_api.h>

/** The constants object; NULL with an exception pending when N-API fails. */
napi_value lf_constants(napi_env env);

#endif
