// A mount on the supervisor's /dev/fuse descriptor, which outlives agents: the first agent mounts it, each one
// after takes it over with the requests the dead one left unanswered (state.h).
#ifndef LOGFS_TAKEOVER_H
#define LOGFS_TAKEOVER_H

#include <stddef.h>

struct fuse_session;

/**
 * Serves `se` on the descriptor `fd`, mounted at `mountpoint` here unless `takeover` (the mount exists); 0, or -1
 * with a message in `error`.
 */
int lf_takeover_serve(struct fuse_session *se, int fd, int takeover, const char *mountpoint, char *error,
  size_t error_len);

#endif
