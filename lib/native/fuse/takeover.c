// See takeover.h.
#include "takeover.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "fuse_abi.h"
#include "state.h"

/**
 * The supervisor's /dev/fuse descriptor: mounted here the first time; after that the mount exists and the
 * kernel holds requests a dead agent took. libfuse refuses every request before INIT, which only the first agent
 * got: its INIT is replayed (the answer goes nowhere: the kernel has no such request any more). Then the kernel
 * is asked to send again what the dead agent never answered.
 */
int lf_takeover_serve(struct fuse_session *se, int fd, int takeover, const char *mountpoint, char *error,
  size_t error_len) {
  char dev[32];
  snprintf(dev, sizeof dev, "/dev/fd/%d", fd);
  if (!takeover) {
    char o[160];
    snprintf(o, sizeof o, "fd=%d,rootmode=40000,user_id=%u,group_id=%u,allow_other,default_permissions",
      fd, (unsigned) getuid(), (unsigned) getgid());
    if (mount("logfs", mountpoint, "fuse.logfs", MS_NOSUID | MS_NODEV, o) != 0) {
      snprintf(error, error_len, "mount: %s", strerror(errno));
      return -1;
    }
  }
  if (fuse_session_mount(se, dev) != 0) {
    snprintf(error, error_len, "libfuse does not take the descriptor %s", dev);
    return -1;
  }
  if (!takeover) return 0;
  lf_state_header *h = lf_state();
  uint32_t len = __atomic_load_n(&h->init_len, __ATOMIC_ACQUIRE);
  if (len == 0) {
    snprintf(error, error_len, "the agent before died before the kernel's INIT was kept");
    return -1;
  }
  char *init = malloc(len);
  if (init == NULL) {
    snprintf(error, error_len, "out of memory");
    return -1;
  }
  memcpy(init, h->init, len);
  struct fuse_buf b = { .size = len, .mem = init };
  fuse_session_process_buf(se, &b);
  free(init);
  const struct { uint32_t len; int32_t error; uint64_t unique; } resend = { 16, FUSE_NOTIFY_RESEND, 0 };
  if (write(fd, &resend, sizeof resend) != (ssize_t) sizeof resend) {
    snprintf(error, error_len, "the kernel refused FUSE_NOTIFY_RESEND (Linux 6.9 or later has it): %s",
      strerror(errno));
    return -1;
  }
  return 0;
}
