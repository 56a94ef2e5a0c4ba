// Signals, read from a signalfd in the main loop rather than in handlers: SIGTERM and SIGINT stop the mount
// (through the agent), SIGHUP has the agent hand over to a new one, SIGCHLD notes the agent's exit.
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor.h"

/** Blocks the signals the loop reads and opens sig_fd; -1 when it cannot. */
int sv_signals_open(struct sv *sv) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_SETMASK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  sv->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  return sv->sig_fd < 0 ? -1 : 0;
}

/**
 * Every SIGTERM/SIGINT goes to the agent, which decides what it means: the first one drains, a later one ends it
 * at once (lib/util/process.ts, onStopSignal). The supervisor then ends with the agent's exit code.
 */
static void forward(struct sv *sv, int sig) {
  sv->stopping = 1;
  if (sv->stop_signal) {
    // Asked again while the stop waits for an agent: the caller insists; what the memfd holds is left.
    sv_log(sv, SV_WARN, "supervisor", "stopped again before an agent could ship what the dead one left");
    if (sv->child && !sv->child_exited) kill(sv->child, SIGKILL);
    sv_end(sv, 1);
  }
  // An agent that exited is not signalled again: once reaped, its pid may be someone else's.
  if (sv->child && !sv->child_exited) {
    kill(sv->child, sig);
  } else if (sv->fuse_fd >= 0 && sv->ever_mounted) {
    // No agent runs (between a crash and its successor): the memfd may hold bytes nobody shipped yet. One more
    // agent takes the mount over, and the stop goes to it once it serves (channel.c), so it drains them.
    sv->stop_signal = sig;
    if (!sv->child) sv->restart_at = sv_now_ms();
  } else if (!sv->child) {
    sv_end(sv, 0);
  }
}

/** SIGHUP: the agent hands over and a new one starts from the program on disk (an agent upgrade, a reload). */
static void upgrade(struct sv *sv) {
  if (sv->fuse_fd < 0) {
    sv_log(sv, SV_WARN, "supervisor", "SIGHUP: no handover without /dev/fuse held here; restart the mount instead");
  } else if (sv->child && !sv->child_exited && !sv->stopping) {
    sv_log(sv, SV_INFO, "supervisor", "SIGHUP: asking the agent to hand over to a new one");
    kill(sv->child, LF_SIGNAL_HAND_OVER);
  }
}

void sv_on_signals(struct sv *sv) {
  struct signalfd_siginfo si;
  while (read(sv->sig_fd, &si, sizeof si) == (ssize_t) sizeof si) {
    if (si.ssi_signo == SIGHUP) {
      upgrade(sv);
    } else if (si.ssi_signo == SIGCHLD) {
      int status;
      if (sv->child && !sv->child_exited && waitpid(sv->child, &status, WNOHANG) == sv->child) {
        sv->child_exited = 1;
        sv->child_status = status;
      }
    } else {
      forward(sv, (int) si.ssi_signo);
    }
  }
}
