// What outlives agents: the mount's /dev/fuse connection and the memfd. Opened here once (or taken from the
// supervisor running at the place, --upgrade), given to every agent, and handed off to a new supervisor that asks
// for them over the socket beside the pid file (the supervisor handoff, handoff.h; docs/continuity.md).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "handoff.h"
#include "supervisor.h"

/**
 * Opens what agents hand over: /dev/fuse (a connection the first agent mounts) and the memfd. No /dev/fuse (no
 * permission, no module) means no agent handover: each agent mounts on its own.
 */
void sv_open_held(struct sv *sv) {
  sv->fuse_fd = sv->state_fd = -1;
  if (sv->no_handover) {
    sv_log(sv, SV_INFO, "supervisor", "--no-handover: an agent restart mounts again, breaking open files");
  } else if ((sv->fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) < 0) {
    sv_log(sv, SV_WARN, "supervisor", "cannot open /dev/fuse (%s): an agent restart will break open files",
      strerror(errno));
  } else if ((sv->state_fd = memfd_create("logfs-state", MFD_CLOEXEC)) < 0) {
    sv_log(sv, SV_WARN, "supervisor", "memfd_create: %s: an agent restart will break open files", strerror(errno));
    close(sv->fuse_fd);
    sv->fuse_fd = -1;
  }
  sv_set_held_env(sv);
}

/** --upgrade: what the running supervisor holds, or a fresh start when none runs at this place. */
void sv_take_held(struct sv *sv) {
  int fds[2];
  char why[PATH_MAX + 128];
  int got = lf_handoff_request(sv->sock_path, fds, &sv->renewals, why, sizeof why);
  if (got < 0) {
    sv_log(sv, SV_ERROR, "supervisor", "--upgrade: %s", why);
    sv_end(sv, 1);
  }
  if (got == 0) {
    sv_log(sv, SV_INFO, "supervisor", "--upgrade: no supervisor runs this mount; mounting");
    sv_open_held(sv);
    return;
  }
  sv->fuse_fd = fds[0];
  sv->state_fd = fds[1];
  sv_log(sv, SV_INFO, "supervisor", "--upgrade: the running supervisor handed the mount off");
  sv_set_held_env(sv);
}

/** Where a new supervisor asks for the mount: beside the pid file. */
void sv_listen_held(struct sv *sv) {
  if (sv->fuse_fd < 0) return;
  char why[PATH_MAX + 128], dir[PATH_MAX + 8];
  sv_dir_of(sv->sock_path, dir, sizeof dir);
  sv_make_dirs(dir);
  sv->listener = lf_handoff_listen(sv->sock_path, &sv->listener_ino, why, sizeof why);
  if (sv->listener < 0) sv_log(sv, SV_WARN, "supervisor", "no upgrade by a new supervisor: cannot listen at %s", why);
}

/** A new supervisor asks for the mount (handoff.h): the agent hands over, then the descriptors are handed off. */
void sv_on_request(struct sv *sv) {
  int conn = lf_handoff_accept(sv->listener);
  if (conn < 0) return;
  if (sv->handing >= 0 || sv->handed_off || sv->stopping) {
    close(conn);
    return;
  }
  sv->handing = conn;
  sv->restart_at = -1;
  sv_log(sv, SV_INFO, "supervisor", "a new supervisor asks for the mount; asking the agent to hand over");
  if (sv->child && !sv->child_exited) kill(sv->child, LF_SIGNAL_HAND_OVER);
  else if (!sv->child) sv_hand_off(sv);
}

/** Sends the held descriptors to the new supervisor; this one then holds nothing and waits to be stopped. */
void sv_hand_off(struct sv *sv) {
  int fds[2] = { sv->fuse_fd, sv->state_fd };
  int conn = sv->handing;
  sv->handing = -1;
  if (lf_handoff_send(conn, fds, sv->renewals) != 0) {
    sv_log(sv, SV_ERROR, "supervisor", "the new supervisor went away before taking the mount (%s); serving it on",
      strerror(errno));
    sv->restart_at = sv_now_ms();
    return;
  }
  close(sv->fuse_fd);
  close(sv->state_fd);
  sv->fuse_fd = sv->state_fd = -1;
  // Not removed: the new supervisor listens at the same path now.
  close(sv->listener);
  sv->listener = -1;
  sv->handed_off = 1;
  sv_log(sv, SV_INFO, "supervisor", "handed the mount off to the new supervisor; this one exits when stopped");
  if (sv->json) {
    // A supervisor handoff, though the event's name says "handed over": --json output is an interface, and
    // callers (test/restart.test.ts) wait for it by name.
    static const char ev[] = "{\"event\":\"" LF_EVENT_HANDED_OVER "\"}\n";
    sv_emit(sv, ev, sizeof ev - 1);
  }
  if (sv->stopping) sv_end(sv, 0);
}
