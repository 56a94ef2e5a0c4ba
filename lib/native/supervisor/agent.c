// The agent's life: starting it with what it is given, and deciding, when it has exited and its channel ended,
// whether and when the next one starts (an agent handover, a renewal, a crash with backoff, or
// a stop).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor.h"

#define MAX_DELAY_MS 5000
/** An agent that ran this long was not crash-looping: its death is restarted at once. */
#define STABLE_MS 5000

/** What Node's spawn gives a child, and the descriptors at their numbers; runs in the child, which never returns. */
static __attribute__((noreturn)) void exec_agent(const struct sv *sv, int chan_end) {
  // Default signal handling, nothing blocked, stdin from /dev/null, stdout and stderr shared, the IPC channel as
  // LF_CHANNEL_FD.
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // Moved above the numbers they go to first, so that no dup2 below overwrites one not placed yet.
  int chan_fd = fcntl(chan_end, F_DUPFD_CLOEXEC, 10);
  int fuse = sv->fuse_fd >= 0 ? fcntl(sv->fuse_fd, F_DUPFD_CLOEXEC, 10) : -1;
  int state = sv->state_fd >= 0 ? fcntl(sv->state_fd, F_DUPFD_CLOEXEC, 10) : -1;
  if (null < 0 || chan_fd < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(chan_fd, LF_CHANNEL_FD) < 0 ||
      (fuse >= 0 && (dup2(fuse, LF_FUSE_FD) < 0 || dup2(state, LF_STATE_FD) < 0))) {
    dprintf(STDERR_FILENO, "logfs-supervise: cannot set up the agent's descriptors: %s\n", strerror(errno));
    _exit(127);
  }
  execve(sv->agent_argv[0], sv->agent_argv, sv->agent_envp);
  dprintf(STDERR_FILENO, "logfs-supervise: cannot run %s: %s\n", sv->agent_argv[0], strerror(errno));
  _exit(127);
}

void sv_start(struct sv *sv) {
  sv->restart_at = -1;
  sv->agent_stopping = 0;
  sv->started_ms = sv_now_ms();
  int pair[2];
  // Both ends close on exec: the agent gets its own as LF_CHANNEL_FD (dup2 clears the flag), and no later agent
  // inherits an earlier one's channel, which would hide that channel's end.
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    sv_log(sv, SV_ERROR, "supervisor", "cannot start an agent: socketpair: %s", strerror(errno));
    sv_end(sv, 1);
  }
  pid_t pid = fork();
  if (pid < 0) {
    sv_log(sv, SV_ERROR, "supervisor", "cannot start an agent: fork: %s", strerror(errno));
    sv_end(sv, 1);
  }
  if (pid == 0) exec_agent(sv, pair[1]);
  close(pair[1]);
  sv->chan = pair[0];
  sv->child = pid;
  sv->child_exited = 0;
  sv->used = 0;
  sv->overlong = 0;
}

static const char *signal_name(int sig) {
  static const struct { int sig; const char *name; } names[] = {
    { SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" }, { SIGILL, "SIGILL" },
    { SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" }, { SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" },
    { SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" }, { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
    { SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" }, { SIGCHLD, "SIGCHLD" },
    { SIGCONT, "SIGCONT" }, { SIGSTOP, "SIGSTOP" }, { SIGTSTP, "SIGTSTP" }, { SIGTTIN, "SIGTTIN" },
    { SIGTTOU, "SIGTTOU" }, { SIGURG, "SIGURG" }, { SIGXCPU, "SIGXCPU" }, { SIGXFSZ, "SIGXFSZ" },
    { SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" }, { SIGWINCH, "SIGWINCH" }, { SIGIO, "SIGIO" },
    { SIGSYS, "SIGSYS" },
#ifdef SIGSTKFLT
    { SIGSTKFLT, "SIGSTKFLT" },
#endif
#ifdef SIGPWR
    { SIGPWR, "SIGPWR" },
#endif
  };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) if (names[i].sig == sig) return names[i].name;
  return NULL;
}

/** A crash: the next agent starts at once, or after a delay that doubles while agents keep dying young. */
static void restart_after_crash(struct sv *sv, const char *how) {
  long long now = sv_now_ms();
  sv->quick_failures = now - sv->started_ms > STABLE_MS ? 0 : sv->quick_failures + 1;
  int q = sv->quick_failures;
  int delay = q <= 1 ? 0 : q - 2 >= 5 ? MAX_DELAY_MS : 250 << (q - 2);
  if (delay > MAX_DELAY_MS) delay = MAX_DELAY_MS;
  char in[32] = "";
  if (delay) snprintf(in, sizeof in, " in %d ms", delay);
  sv_log(sv, SV_ERROR, "supervisor", "agent died (%s); starting a new one%s", how, in);
  if (sv->json) {
    char ev[128];
    int n = snprintf(ev, sizeof ev, "{\"event\":\"" LF_EVENT_RESTARTING "\",\"reason\":\"%s\",\"delayMs\":%d}\n", how, delay);
    sv_emit(sv, ev, (size_t) n);
  }
  sv->restart_at = now + delay;
}

/** The agent exited and its channel ended, so its last message (a `stopping` just before exit) was read. */
void sv_on_close(struct sv *sv) {
  sv->child = 0;
  char how[48];
  int status = sv->child_status;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (WIFSIGNALED(status)) {
    const char *name = signal_name(WTERMSIG(status));
    if (name) snprintf(how, sizeof how, "signal %s", name);
    else snprintf(how, sizeof how, "signal %d", WTERMSIG(status));
  } else {
    snprintf(how, sizeof how, "exit code %d", code);
  }
  // Killed by a signal: no exit code to pass on, so 1, as Node's `code ?? 1` gave.
  int exit_code = code >= 0 ? code : 1;
  if (sv->handing >= 0) {
    sv_hand_off(sv);
    return;
  }
  // A stop was asked, but the agent died without beginning it (killed as the stop came, or while none ran):
  // the memfd may hold bytes nobody shipped. One more agent takes the mount over and gets the stop.
  if (sv->stopping && !sv->agent_stopping && code != 0 && code != LF_EXIT_RENEW && sv->fuse_fd >= 0 &&
      sv->ever_mounted && sv->drain_attempts++ < 3) {
    if (!sv->stop_signal) sv->stop_signal = SIGTERM;
    sv_log(sv, SV_INFO, "supervisor", "agent died (%s) as a stop was asked; starting one to ship what it left", how);
    sv->restart_at = sv_now_ms();
    return;
  }
  if (sv->stopping) {
    sv_log(sv, SV_INFO, "supervisor", "agent stopped deliberately (%s); not starting a new one", how);
    sv_end(sv, exit_code);
  }
  if (code == LF_EXIT_HANDED_OVER && sv->fuse_fd >= 0) {
    sv_log(sv, SV_INFO, "supervisor", "agent handed the mount over; starting the new one");
    sv->restart_at = sv_now_ms();
    return;
  }
  if (code == LF_EXIT_RENEW && sv->fuse_fd >= 0) {
    // The agent said why, ended the old connection and detached the mount; the next one mounts on fresh ones.
    close(sv->fuse_fd);
    close(sv->state_fd);
    sv->renewals++;
    sv_open_held(sv);
    sv_log(sv, SV_ERROR, "supervisor",
      "the handover failed; the next agent mounts again, open files on the mount broke");
    sv->restart_at = sv_now_ms();
    return;
  }
  // An agent that never mounted failed on its configuration or its mount point; starting it again would fail
  // the same way. A clean exit is a stop too.
  if (code == 0 || !sv->ever_mounted) sv_end(sv, exit_code);
  restart_after_crash(sv, how);
}
