// The supervisor handoff: a supervisor passing what it holds (the mount's /dev/fuse connection and the memfd) to a new
// supervisor, for upgrades that replace the supervisor too (`logfs mount --upgrade`; docs/continuity.md). A DaemonSet's
// rolling update with maxSurge starts the new pod while the old one runs; the new pod's `logfs mount --upgrade` asks
// the old supervisor over a Unix socket in the state directory both pods share, and the descriptors travel as
// SCM_RIGHTS. The kernel's connection never has nobody holding it, so writers never see it end.
//
// Protocol, version 1: the new supervisor connects and writes "take 1\n". The old one asks its agent to hand over
// and, once the agent is gone, answers "held 1 RENEWALS\n" with the two descriptors attached, and closes.
#ifndef LOGFS_HANDOFF_H
#define LOGFS_HANDOFF_H

#include <stddef.h>

/**
 * Listens at `path` (replacing a stale socket); the listening descriptor, or -1 with `error`. `ino` names the
 * socket file, for lf_handoff_unlisten.
 */
int lf_handoff_listen(const char *path, unsigned long long *ino, char *error, size_t error_len);
/** Stops listening; removes the socket file if it is still ours (a new supervisor may have replaced it). */
void lf_handoff_unlisten(const char *path, int listener, unsigned long long ino);
/**
 * Asks the supervisor at `path` for what it holds: 1 with fds[0] the /dev/fuse descriptor and fds[1] the memfd,
 * 0 when nobody listens there, -1 with `error`. Waits as long as the old agent takes to hand over.
 */
int lf_handoff_request(const char *path, int fds[2], int *renewals, char *error, size_t error_len);
/** Takes one request from `listener`; the connection to answer, or -1 (not a request, or a failure). */
int lf_handoff_accept(int listener);
/** Answers a request with the held descriptors and closes the connection; 0, or -1 with errno. */
int lf_handoff_send(int conn, const int fds[2], int renewals);

#endif
