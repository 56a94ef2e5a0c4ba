/* The contract between the supervisor (lib/native/supervisor) and the agent it runs (the Node program
 * lib/cli/mount.ts runs with --no-supervise), in one place for both products: the supervisor includes it, and the
 * agent's addon (lib/native/fuse/constants.c) exports every value to TypeScript as native.constants.protocol, which
 * lib/agent/handover.ts and lib/cli/mount.ts read. The one header shared across products
 * (test/imports.test.ts allows exactly this one). supervisor/README.md describes the protocol whole; version 1. */
#ifndef LOGFS_PROTOCOL_H
#define LOGFS_PROTOCOL_H

#include <signal.h>

/* The descriptors an agent is started with, by number: Node's IPC channel, then what the supervisor holds across
 * agents (the mount's /dev/fuse connection and the memfd). */
#define LF_CHANNEL_FD 3
#define LF_FUSE_FD 4
#define LF_STATE_FD 5

/* The environment that names them (the two descriptors are left out when the supervisor holds none). */
#define LF_ENV_FUSE_FD "LOGFS_FUSE_FD"
#define LF_ENV_STATE_FD "LOGFS_STATE_FD"
/* How many times the supervisor had to give up an agent handover and mount again. */
#define LF_ENV_RENEWALS "LOGFS_RENEWALS"
/* The cursor generation of the last agent that mounted: the next one starts above it, since a restart must never
 * go back in cursor order. */
#define LF_ENV_GEN_FLOOR "LOGFS_GEN_FLOOR"
/* debug|info|warn|error, read by both. lib/util/log.ts (which loads no addon: a server logs too) names it as well;
 * test/contract.test.ts checks the two agree, and that both write the same line. */
#define LF_ENV_LOG_LEVEL "LOGFS_LOG_LEVEL"

/* The agent's exit codes the supervisor acts on. HANDED_OVER: it handed the mount over on request, the next agent
 * starts now on the same descriptors. RENEW: it could not take the memfd over, ended the old connection, and the
 * next agent mounts on fresh descriptors. */
#define LF_EXIT_HANDED_OVER 3
#define LF_EXIT_RENEW 4

/* Asks the agent to hand over (it exits with LF_EXIT_HANDED_OVER). SIGTERM and SIGINT stop it. */
#define LF_SIGNAL_HAND_OVER SIGUSR2
#define LF_SIGNAL_HAND_OVER_NAME "SIGUSR2"

/* The events the agent sends on the channel, {"event":NAME,...} a line each. */
#define LF_EVENT_MOUNTED "mounted"
#define LF_EVENT_STOPPING "stopping"
/* The supervisor's own events, on its stdout under --json. */
#define LF_EVENT_RESTARTING "restarting"
#define LF_EVENT_HANDED_OVER "handedOver"

#endif
