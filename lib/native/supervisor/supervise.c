// logfs-supervise: the supervisor of `logfs mount`, which execs into it once its options are checked, so the pid
// that systemd, a container runtime or a shell knows stays the one to signal. It was a Node process that only
// waited, at ~55 MiB of memory next to the agent it watches; in C the same work takes ~1.5 MiB, mostly libc.
//
// Why a supervisor: it holds what must outlive an agent. It opens /dev/fuse and a memfd (its layout:
// lib/native/fuse/state.h) once, and every agent it starts gets both: the first mounts with them, each later one
// takes the same connection over, so when an agent dies (a crash, an OOM kill) or is upgraded (SIGHUP here: the
// agent hands over and a new one starts from the program on disk), writers' open files keep working and the bytes
// they wrote wait in the memfd. The kernel keeps a FUSE connection as long as someone holds its descriptor: while
// an agent is gone, writers wait rather than fail. A deliberate stop is never restarted, whichever process got the
// signal.
//
// What passes between the supervisor and its agents (descriptors, environment, events, exit codes, signals) is in
// protocol.h and README.md. This file reads the options and runs the one loop; supervisor.h lists the other parts.
//
// Usage: logfs-supervise [--json] [--no-handover | --upgrade] --pid-file FILE -- NODE ARGS...
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff.h"
#include "supervisor.h"

void sv_end(struct sv *sv, int code) {
  if (sv->listener >= 0) lf_handoff_unlisten(sv->sock_path, sv->listener, sv->listener_ino);
  sv_release_pid(sv);
  exit(code);
}

static __attribute__((noreturn)) void usage(void) {
  fputs("usage: logfs-supervise [--json] [--no-handover | --upgrade] --pid-file FILE -- NODE ARGS...\n", stderr);
  exit(2);
}

static void parse_options(struct sv *sv, int argc, char **argv) {
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--json") == 0) sv->json = 1;
    else if (strcmp(argv[i], "--no-handover") == 0) sv->no_handover = 1;
    else if (strcmp(argv[i], "--upgrade") == 0) sv->upgrade_mount = 1;
    else if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc) sv->pid_file = argv[++i];
    else usage();
  }
  if (sv->pid_file == NULL || i + 1 >= argc) usage();
  sv->agent_argv = argv + i + 1;
}

/** stdin, stdout and stderr as the agent and the log need them; -1 when one cannot be opened. */
static int settle_stdio(void) {
  // Every descriptor opened from here on is above stdio, so none is taken for stdin, stdout or stderr.
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) return -1;
  }
  // Node, which exec'd into this program, may have made stdout and stderr non-blocking; it would have undone that
  // at its exit, and this exit is its exit now.
  for (int fd = 1; fd < 3; fd++) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  return 0;
}

/** The supervisor handoff's socket: the pid file's path with .sock for .pid. */
static void socket_path(struct sv *sv) {
  size_t base_len = strlen(sv->pid_file);
  if (base_len > 4 && strcmp(sv->pid_file + base_len - 4, ".pid") == 0) base_len -= 4;
  snprintf(sv->sock_path, sizeof sv->sock_path, "%.*s.sock", (int) base_len, sv->pid_file);
}

/** Waits for signals, the agent's channel, a new supervisor's request and the next start; never returns. */
static __attribute__((noreturn)) void serve(struct sv *sv) {
  for (;;) {
    struct pollfd fds[3] = { { sv->sig_fd, POLLIN, 0 }, { sv->chan, POLLIN, 0 }, { sv->listener, POLLIN, 0 } };
    int timeout = -1;
    if (sv->restart_at >= 0) {
      long long left = sv->restart_at - sv_now_ms();
      timeout = left > 0 ? (int) left : 0;
    }
    if (poll(fds, 3, timeout) < 0 && errno != EINTR) {
      sv_log(sv, SV_ERROR, "supervisor", "poll: %s", strerror(errno));
      sv_end(sv, 1);
    }
    if (fds[0].revents) sv_on_signals(sv);
    if (sv->listener >= 0 && fds[2].revents) sv_on_request(sv);
    if (sv->chan >= 0 && fds[1].revents && !sv_read_channel(sv)) {
      close(sv->chan);
      sv->chan = -1;
    }
    if (sv->child && sv->child_exited && sv->chan < 0) sv_on_close(sv);
    if (sv->restart_at >= 0 && sv_now_ms() >= sv->restart_at) sv_start(sv);
  }
}

int main(int argc, char **argv) {
  // Static for its size (the channel's line buffer); every part gets it by pointer. No signal handler needs it:
  // signals are read from a signalfd in the loop.
  static struct sv sv = {
    .fuse_fd = -1, .state_fd = -1, .listener = -1, .handing = -1, .chan = -1, .restart_at = -1, .sig_fd = -1,
  };
  parse_options(&sv, argc, argv);
  if (settle_stdio() != 0) return 1;
  sv_log_level(&sv, getenv(LF_ENV_LOG_LEVEL));
  if (sv_signals_open(&sv) != 0) {
    perror("logfs-supervise: signalfd");
    return 1;
  }
  sv_build_env(&sv);
  socket_path(&sv);
  if (sv.upgrade_mount) sv_take_held(&sv);
  else sv_open_held(&sv);
  sv_listen_held(&sv);
  sv_start(&sv);
  serve(&sv);
}
