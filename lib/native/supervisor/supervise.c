// logfs-supervise: the supervisor of `logfs mount`, which execs into it once its options are checked, so the pid
// that systemd, a container runtime or a shell knows stays the one to signal. It was a Node process that only
// waited, at ~55 MiB of memory next to the agent it watches; in C the same work takes ~1.5 MiB, mostly libc.
//
// Why a supervisor: it holds what must outlive an agent. It opens /dev/fuse and a memory file for the
// state (state.h) once, and every agent it starts gets both (LOGFS_FUSE_FD, LOGFS_STATE_FD): the first mounts
// with them, each later one takes the same connection over, so when an agent dies (a crash, an OOM kill) or is
// upgraded (SIGHUP here: the agent hands over and a new one starts from the program on disk), writers' open files
// keep working and the bytes they wrote wait in the state. The kernel keeps a FUSE connection as long as someone
// holds its descriptor: while an agent is gone, writers wait rather than fail. A deliberate stop is never
// restarted, whichever process got the signal.
//
// The agent's exit codes (lib/agent/handover.ts): EXIT_HANDED_OVER, it handed over on request: the next one
// starts now; EXIT_RENEW, it could not take the state over (a version it does not read, say): the descriptors are
// replaced by new ones and the next agent mounts again, breaking the open files, and says so.
//
// The agent is the Node program lib/cli/mount.ts runs with --no-supervise. It talks back over Node's IPC channel
// (fd 3, NODE_CHANNEL_FD, json serialization: one object per line): {"event":"mounted",...} once it serves the
// mount, {"event":"stopping"} when it was told to stop.
//
// Usage: logfs-supervise [--json] [--no-handover | --upgrade] --pid-file FILE -- NODE ARGS...
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"

#define MAX_DELAY_MS 5000
/** An agent that ran this long was not crash-looping: its death is restarted at once. */
#define STABLE_MS 5000
/** lib/agent/state.ts: each agent gets the generation of the one before, since a restart must never go back. */
#define GEN_FLOOR_ENV "LOGFS_GEN_FLOOR"
/** lib/agent/handover.ts: the descriptors an agent gets, at these numbers, and the renewals so far. */
#define FUSE_FD 4
#define STATE_FD 5
#define EXIT_HANDED_OVER 3
#define EXIT_RENEW 4

extern char **environ;

static int json;
/** Names the supervisor once an agent has mounted: `logfs umount` signals it, and it outlives restarts. */
static const char *pid_file;
static char **agent_argv;
static char **agent_envp;
/** agent_envp's GEN_FLOOR_ENV entry points here once an agent has said its generation. */
static char gen_var[sizeof GEN_FLOOR_ENV + 32];
static int gen_slot;
/** What outlives agents: the mount's connection and the state; -1 when /dev/fuse could not be opened. */
static int fuse_fd = -1, state_fd = -1;
static int renewals, no_handover;
static char renewals_var[48];
static int renewals_slot;
/** --upgrade: take the mount over from the supervisor running at this place (handoff.h). */
static int upgrade_mount;
static char sock_path[PATH_MAX + 8];
static int listener = -1;
static unsigned long long listener_ino;
/** A new supervisor's request being answered once the agent is gone; then this one only waits to be stopped. */
static int handing = -1, handed_off;

static int sig_fd;
static pid_t child;            // the agent, from its start until its close (exit and the end of its channel)
static int child_exited, child_status;
static int chan = -1;
static int stopping, ever_mounted, quick_failures;
/** A stop asked while no agent ran, for the agent started to drain the state (forward). */
static int stop_signal;
/** The running agent said it is stopping (its drain began). */
static int agent_stopping;
/** Agents started to drain after a stop; an agent that keeps dying is not started for ever. */
static int drain_attempts;
static long long started_ms, restart_at = -1;
static int stdout_gone;

enum { DEBUG = 10, INFO = 20, WARN = 30, ERROR = 40 };
static int threshold = INFO;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** Every byte or an error: stdout and stderr may be pipes a Node process (we, or the agent) made non-blocking. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = { fd, POLLOUT, 0 };
        poll(&p, 1, -1);
        continue;
      }
      return -1;
    }
    buf += n;
    len -= (size_t) n;
  }
  return 0;
}

/** One JSON line for scripts (--json). A reader that went away is no reason to stop supervising. */
static void emit(const char *line, size_t len) {
  if (!stdout_gone && write_all(STDOUT_FILENO, line, len) != 0 && errno == EPIPE) stdout_gone = 1;
}

/** The format of lib/util/log.ts, so the supervisor's lines read like the agent's around them. */
__attribute__((format(printf, 3, 4)))
static void log_line(int level, const char *component, const char *fmt, ...) {
  if (level < threshold) return;
  char buf[8192];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const char *name = level == DEBUG ? "debug" : level == INFO ? "info" : level == WARN ? "warn" : "error";
  n += (size_t) snprintf(buf + n, sizeof buf - n, ".%03ldZ %-5s %s: ", ts.tv_nsec / 1000000, name, component);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
  va_end(ap);
  // A message cut short still ends its line.
  if (m > 0) n += (size_t) m < sizeof buf - n - 2 ? (size_t) m : sizeof buf - n - 2;
  buf[n++] = '\n';
  write_all(STDERR_FILENO, buf, n);
}

// --- the pid file (lib/agent/state.ts: writePid, releasePid) ---

/** An error worded like Node's fs errors, as the Node supervisor logged them. */
static void describe(char *out, size_t size, int err, const char *syscall, const char *path, const char *dest) {
  const char *code = strerrorname_np(err);
  char text[128];
  snprintf(text, sizeof text, "%s", strerror(err));
  text[0] = (char) tolower((unsigned char) text[0]);
  if (dest) snprintf(out, size, "%s: %s, %s '%s' -> '%s'", code ? code : "EUNKNOWN", text, syscall, path, dest);
  else snprintf(out, size, "%s: %s, %s '%s'", code ? code : "EUNKNOWN", text, syscall, path);
}

/** mkdir -p; 0, or -1 with errno. */
static int make_dirs(char *dir) {
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(dir, 0777);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return -1;
  }
  return mkdir(dir, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/**
 * Names this process as the one to signal: written to a temporary file, fsynced and renamed over the old one,
 * so a reader never sees it empty or half written. A failure is logged, not fatal: the mount works on without it.
 */
/** The directory `path` is in. */
static void dir_of(const char *path, char *dir, size_t size) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) snprintf(dir, size, ".");
  else snprintf(dir, size, "%.*s", slash == path ? 1 : (int) (slash - path), path);
}

static void write_pid(void) {
  char dir[PATH_MAX], tmp[PATH_MAX], text[32], why[3 * PATH_MAX];
  dir_of(pid_file, dir, sizeof dir);
  if ((size_t) snprintf(tmp, sizeof tmp, "%s.tmp", pid_file) >= sizeof tmp) {
    describe(why, sizeof why, ENAMETOOLONG, "open", pid_file, NULL);
    goto failed;
  }
  if (make_dirs(dir) != 0) {
    describe(why, sizeof why, errno, "mkdir", dir, NULL);
    goto failed;
  }
  int len = snprintf(text, sizeof text, "%d\n", (int) getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    describe(why, sizeof why, errno, "open", tmp, NULL);
    goto failed;
  }
  const char *failed_call = write_all(fd, text, (size_t) len) != 0 ? "write" : fsync(fd) != 0 ? "fsync" : NULL;
  if (failed_call) {
    describe(why, sizeof why, errno, failed_call, tmp, NULL);
    close(fd);
    unlink(tmp);
    goto failed;
  }
  close(fd);
  if (rename(tmp, pid_file) != 0) {
    describe(why, sizeof why, errno, "rename", tmp, pid_file);
    unlink(tmp);
    goto failed;
  }
  return;
failed:
  log_line(ERROR, "agent", "cannot write %s; logfs umount will not find this mount: %s", pid_file, why);
}

/** Removes the pid file if it names this process: a newer mount at the same place may have taken it over. */
static void release_pid(void) {
  char buf[64];
  int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  char *p = buf, *end;
  while (isspace((unsigned char) *p)) p++;
  long pid = strtol(p, &end, 10);
  while (isspace((unsigned char) *end)) end++;
  if (end != p && *end == '\0' && pid == (long) getpid()) unlink(pid_file);
}

static __attribute__((noreturn)) void end(int code) {
  if (listener >= 0) lf_handoff_unlisten(sock_path, listener, listener_ino);
  release_pid();
  exit(code);
}

// --- the agent's messages ---

static const char *skip_ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/** The end of the JSON value at p, or NULL if there is none. Checks only as much as finding the end needs. */
static const char *skip_value(const char *p, const char *e) {
  if (p >= e) return NULL;
  if (*p == '"') {
    for (p++; p < e; p++) {
      if (*p == '\\') p++;
      else if (*p == '"') return p + 1;
    }
    return NULL;
  }
  if (*p == '{' || *p == '[') {
    int depth = 0;
    for (; p < e; p++) {
      if (*p == '"') {
        if ((p = skip_value(p, e)) == NULL) return NULL;
        p--;
      } else if (*p == '{' || *p == '[') {
        depth++;
      } else if ((*p == '}' || *p == ']') && --depth == 0) {
        return p + 1;
      }
    }
    return NULL;
  }
  const char *s = p;
  while (p < e && (isalnum((unsigned char) *p) || *p == '-' || *p == '+' || *p == '.')) p++;
  return p > s ? p : NULL;
}

static int is(const char *token, size_t len, const char *text) {
  return len == strlen(text) && memcmp(token, text, len) == 0;
}

/**
 * One message: a JSON object on one line, written by JSON.stringify, so keys and the values looked at here come
 * unescaped. Anything else (Node's internal messages, which have no event) is none of the supervisor's business.
 */
static void on_message(const char *line, size_t len) {
  const char *e = line + len, *p = skip_ws(line, e);
  const char *event = NULL, *gen = NULL;
  size_t event_len = 0, gen_len = 0;
  if (p >= e || *p++ != '{') return;
  p = skip_ws(p, e);
  if (p < e && *p == '}') return;
  for (;;) {
    const char *key = p;
    if (p >= e || *p != '"' || (p = skip_value(p, e)) == NULL) return;
    size_t key_len = (size_t) (p - key);
    p = skip_ws(p, e);
    if (p >= e || *p++ != ':') return;
    const char *value = p = skip_ws(p, e);
    if ((p = skip_value(p, e)) == NULL) return;
    if (is(key, key_len, "\"event\"")) event = value, event_len = (size_t) (p - value);
    if (is(key, key_len, "\"gen\"")) gen = value, gen_len = (size_t) (p - value);
    p = skip_ws(p, e);
    if (p < e && *p == ',') {
      p = skip_ws(p + 1, e);
      continue;
    }
    if (p < e && *p == '}' && skip_ws(p + 1, e) == e) break;
    return;
  }
  if (event && is(event, event_len, "\"mounted\"")) {
    ever_mounted = 1;
    // JSON.stringify wrote the number as String() would: handed down as it came.
    if (gen && (*gen == '-' || isdigit((unsigned char) *gen)) && gen_len < sizeof gen_var - sizeof GEN_FLOOR_ENV) {
      snprintf(gen_var, sizeof gen_var, GEN_FLOOR_ENV "=%.*s", (int) gen_len, gen);
      agent_envp[gen_slot] = gen_var;
    }
    // The mount is announced once the pid file names the supervisor, so `logfs umount` right after `mounted`
    // finds the process to signal. The line is the one the agent would print itself, newline included.
    write_pid();
    if (json) emit(line, len + 1);
    if (stop_signal) {
      kill(child, stop_signal);
      stop_signal = 0;
    }
  }
  // The agent was signalled itself (its pid killed, systemd, kubelet): what follows is its stop, not a crash.
  if (event && is(event, event_len, "\"stopping\"")) stopping = agent_stopping = 1;
}

/**
 * A line at most this long: the longest message is `mounted` with a mount point (PATH_MAX, escaped). A longer
 * one is dropped whole rather than read in pieces.
 */
static char line[1 << 16];
static size_t used;
static int overlong;

/** Reads what the channel has; 0 once it ended (the agent, and whatever it left the channel to, closed it). */
static int read_channel(void) {
  ssize_t n;
  do n = read(chan, line + used, sizeof line - used);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  size_t from = used, start = 0;
  used += (size_t) n;
  for (size_t i = from; i < used; i++) {
    if (line[i] != '\n') continue;
    if (!overlong) on_message(line + start, i - start);
    overlong = 0;
    start = i + 1;
  }
  memmove(line, line + start, used - start);
  used -= start;
  if (used == sizeof line) {
    overlong = 1;
    used = 0;
  }
  return 1;
}

// --- the agent's life ---

static void open_held(void);
static void hand_off(void);

static void start(void) {
  restart_at = -1;
  agent_stopping = 0;
  started_ms = now_ms();
  int sv[2];
  // Both ends close on exec: the agent gets its own as fd 3 (dup2 clears the flag), and no later agent inherits
  // an earlier one's channel, which would hide that channel's end.
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    log_line(ERROR, "supervisor", "cannot start an agent: socketpair: %s", strerror(errno));
    end(1);
  }
  pid_t pid = fork();
  if (pid < 0) {
    log_line(ERROR, "supervisor", "cannot start an agent: fork: %s", strerror(errno));
    end(1);
  }
  if (pid == 0) {
    // What Node's spawn gives a child: default signal handling, nothing blocked, stdin from /dev/null, stdout and
    // stderr shared, the IPC channel as fd 3.
    sigset_t none;
    sigemptyset(&none);
    for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    // Moved above the numbers they go to first, so that no dup2 below overwrites one not placed yet.
    int chan_fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    int fuse = fuse_fd >= 0 ? fcntl(fuse_fd, F_DUPFD_CLOEXEC, 10) : -1;
    int state = state_fd >= 0 ? fcntl(state_fd, F_DUPFD_CLOEXEC, 10) : -1;
    if (null < 0 || chan_fd < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(chan_fd, 3) < 0 ||
        (fuse >= 0 && (dup2(fuse, FUSE_FD) < 0 || dup2(state, STATE_FD) < 0))) {
      dprintf(STDERR_FILENO, "logfs-supervise: cannot set up the agent's descriptors: %s\n", strerror(errno));
      _exit(127);
    }
    execve(agent_argv[0], agent_argv, agent_envp);
    dprintf(STDERR_FILENO, "logfs-supervise: cannot run %s: %s\n", agent_argv[0], strerror(errno));
    _exit(127);
  }
  close(sv[1]);
  chan = sv[0];
  child = pid;
  child_exited = 0;
  used = 0;
  overlong = 0;
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

/** The agent exited and its channel ended, so its last message (a `stopping` just before exit) was read. */
static void on_close(void) {
  child = 0;
  char how[48];
  int code = WIFEXITED(child_status) ? WEXITSTATUS(child_status) : -1;
  if (WIFSIGNALED(child_status)) {
    const char *name = signal_name(WTERMSIG(child_status));
    if (name) snprintf(how, sizeof how, "signal %s", name);
    else snprintf(how, sizeof how, "signal %d", WTERMSIG(child_status));
  } else {
    snprintf(how, sizeof how, "exit code %d", code);
  }
  // Killed by a signal: no exit code to pass on, so 1, as Node's `code ?? 1` gave.
  int exit_code = code >= 0 ? code : 1;
  if (handing >= 0) {
    hand_off();
    return;
  }
  // A stop was asked, but the agent died without beginning it (killed as the stop came, or while none ran):
  // the state may hold bytes nobody shipped. One more agent takes the mount over and gets the stop.
  if (stopping && !agent_stopping && code != 0 && code != EXIT_RENEW && fuse_fd >= 0 && ever_mounted &&
      drain_attempts++ < 3) {
    if (!stop_signal) stop_signal = SIGTERM;
    log_line(INFO, "supervisor", "agent died (%s) as a stop was asked; starting one to ship what it left", how);
    restart_at = now_ms();
    return;
  }
  if (stopping) {
    log_line(INFO, "supervisor", "agent stopped deliberately (%s); not starting a new one", how);
    end(exit_code);
  }
  if (code == EXIT_HANDED_OVER && fuse_fd >= 0) {
    log_line(INFO, "supervisor", "agent handed the mount over; starting the new one");
    restart_at = now_ms();
    return;
  }
  if (code == EXIT_RENEW && fuse_fd >= 0) {
    // The agent said why, ended the old connection and detached the mount; the next one mounts on fresh ones.
    close(fuse_fd);
    close(state_fd);
    renewals++;
    open_held();
    log_line(ERROR, "supervisor", "the handover failed; the next agent mounts again, open files on the mount broke");
    restart_at = now_ms();
    return;
  }
  // An agent that never mounted failed on its configuration or its mount point; starting it again would fail
  // the same way. A clean exit is a stop too.
  if (code == 0 || !ever_mounted) end(exit_code);
  long long now = now_ms();
  quick_failures = now - started_ms > STABLE_MS ? 0 : quick_failures + 1;
  int delay = quick_failures <= 1 ? 0 : quick_failures - 2 >= 5 ? MAX_DELAY_MS : 250 << (quick_failures - 2);
  if (delay > MAX_DELAY_MS) delay = MAX_DELAY_MS;
  char in[32] = "";
  if (delay) snprintf(in, sizeof in, " in %d ms", delay);
  log_line(ERROR, "supervisor", "agent died (%s); starting a new one%s", how, in);
  if (json) {
    char ev[128];
    int n = snprintf(ev, sizeof ev, "{\"event\":\"restarting\",\"reason\":\"%s\",\"delayMs\":%d}\n", how, delay);
    emit(ev, (size_t) n);
  }
  restart_at = now + delay;
}

/**
 * Every SIGTERM/SIGINT goes to the agent, which decides what it means: the first one drains, a later one ends it
 * at once (lib/util/process.ts, onStopSignal). The supervisor then ends with the agent's exit code.
 */
static void forward(int sig) {
  stopping = 1;
  if (stop_signal) {
    // Asked again while the stop waits for an agent: the caller insists; what the state holds is left.
    log_line(WARN, "supervisor", "stopped again before an agent could ship what the dead one left");
    if (child && !child_exited) kill(child, SIGKILL);
    end(1);
  }
  // An agent that exited is not signalled again: once reaped, its pid may be someone else's.
  if (child && !child_exited) {
    kill(child, sig);
  } else if (fuse_fd >= 0 && ever_mounted) {
    // No agent runs (between a crash and its successor): the state may hold bytes nobody shipped yet. One more
    // agent takes the mount over, and the stop goes to it once it serves (on_message), so it drains them.
    stop_signal = sig;
    if (!child) restart_at = now_ms();
  } else if (!child) {
    end(0);
  }
}

/** SIGHUP: the agent hands over and a new one starts from the program on disk (an upgrade, a reload). */
static void upgrade(void) {
  if (fuse_fd < 0) {
    log_line(WARN, "supervisor", "SIGHUP: no handover without /dev/fuse held here; restart the mount instead");
  } else if (child && !child_exited && !stopping) {
    log_line(INFO, "supervisor", "SIGHUP: asking the agent to hand over to a new one");
    kill(child, SIGUSR2);
  }
}

/** A new supervisor asks for the mount (handoff.h): the agent hands over, then the descriptors go. */
static void on_request(void) {
  int conn = lf_handoff_accept(listener);
  if (conn < 0) return;
  if (handing >= 0 || handed_off || stopping) {
    close(conn);
    return;
  }
  handing = conn;
  restart_at = -1;
  log_line(INFO, "supervisor", "a new supervisor asks for the mount; asking the agent to hand over");
  if (child && !child_exited) kill(child, SIGUSR2);
  else if (!child) hand_off();
}

/** Sends the held descriptors to the new supervisor; this one then holds nothing and waits to be stopped. */
static void hand_off(void) {
  int fds[2] = { fuse_fd, state_fd };
  int conn = handing;
  handing = -1;
  if (lf_handoff_send(conn, fds, renewals) != 0) {
    log_line(ERROR, "supervisor", "the new supervisor went away before taking the mount (%s); serving it on",
      strerror(errno));
    restart_at = now_ms();
    return;
  }
  close(fuse_fd);
  close(state_fd);
  fuse_fd = state_fd = -1;
  // Not removed: the new supervisor listens at the same path now.
  close(listener);
  listener = -1;
  handed_off = 1;
  log_line(INFO, "supervisor", "handed the mount over to the new supervisor; this one exits when stopped");
  if (json) {
    static const char ev[] = "{\"event\":\"handedOver\"}\n";
    emit(ev, sizeof ev - 1);
  }
  if (stopping) end(0);
}

static void on_signals(void) {
  struct signalfd_siginfo si;
  while (read(sig_fd, &si, sizeof si) == (ssize_t) sizeof si) {
    if (si.ssi_signo == SIGHUP) {
      upgrade();
    } else if (si.ssi_signo == SIGCHLD) {
      int status;
      if (child && !child_exited && waitpid(child, &status, WNOHANG) == child) {
        child_exited = 1;
        child_status = status;
      }
    } else {
      forward((int) si.ssi_signo);
    }
  }
}

// --- setup ---

static __attribute__((noreturn)) void usage(void) {
  fputs("usage: logfs-supervise [--json] [--no-handover | --upgrade] --pid-file FILE -- NODE ARGS...\n", stderr);
  exit(2);
}

/** The agent's environment names the held descriptors (or none), and the renewals so far. */
static void set_held_env(void) {
  static char fuse_var[32], state_var[32];
  snprintf(renewals_var, sizeof renewals_var, "LOGFS_RENEWALS=%d", renewals);
  snprintf(fuse_var, sizeof fuse_var, "LOGFS_FUSE_FD=%d", FUSE_FD);
  snprintf(state_var, sizeof state_var, "LOGFS_STATE_FD=%d", STATE_FD);
  agent_envp[renewals_slot] = renewals_var;
  agent_envp[renewals_slot + 1] = fuse_fd >= 0 ? fuse_var : NULL;
  agent_envp[renewals_slot + 2] = fuse_fd >= 0 ? state_var : NULL;
}

/**
 * Opens what agents hand over: /dev/fuse (a connection the first agent mounts) and the state's memory file. No
 * /dev/fuse (no permission, no module) means no handover: each agent mounts on its own, with no handover.
 */
static void open_held(void) {
  fuse_fd = state_fd = -1;
  if (no_handover) {
    log_line(INFO, "supervisor", "--no-handover: an agent restart mounts again, breaking open files");
  } else if ((fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) < 0) {
    log_line(WARN, "supervisor", "cannot open /dev/fuse (%s): an agent restart will break open files", strerror(errno));
  } else if ((state_fd = memfd_create("logfs-state", MFD_CLOEXEC)) < 0) {
    log_line(WARN, "supervisor", "memfd_create: %s: an agent restart will break open files", strerror(errno));
    close(fuse_fd);
    fuse_fd = -1;
  }
  set_held_env();
}

/** --upgrade: what the running supervisor holds, or a fresh start when none runs at this place. */
static void take_held(void) {
  int fds[2];
  char why[PATH_MAX + 128];
  int got = lf_handoff_request(sock_path, fds, &renewals, why, sizeof why);
  if (got < 0) {
    log_line(ERROR, "supervisor", "--upgrade: %s", why);
    end(1);
  }
  if (got == 0) {
    log_line(INFO, "supervisor", "--upgrade: no supervisor runs this mount; mounting");
    open_held();
    return;
  }
  fuse_fd = fds[0];
  state_fd = fds[1];
  log_line(INFO, "supervisor", "--upgrade: the running supervisor handed the mount over");
  set_held_env();
}

/** Where a new supervisor asks for the mount: beside the pid file. */
static void listen_held(void) {
  if (fuse_fd < 0) return;
  char why[PATH_MAX + 128], dir[PATH_MAX + 8];
  dir_of(sock_path, dir, sizeof dir);
  make_dirs(dir);
  listener = lf_handoff_listen(sock_path, &listener_ino, why, sizeof why);
  if (listener < 0) log_line(WARN, "supervisor", "no upgrade by a new supervisor: cannot listen at %s", why);
}

/** The agent's environment: ours, with its generation floor and Node's IPC channel. */
static void build_env(void) {
  size_t n = 0;
  while (environ[n]) n++;
  agent_envp = calloc(n + 7, sizeof *agent_envp);
  if (agent_envp == NULL) {
    fputs("logfs-supervise: out of memory\n", stderr);
    exit(1);
  }
  const size_t gen_prefix = sizeof GEN_FLOOR_ENV;  // with the '='
  size_t k = 0;
  gen_slot = -1;
  for (size_t i = 0; i < n; i++) {
    const char *v = environ[i];
    if (strncmp(v, "NODE_CHANNEL_FD=", 16) == 0 || strncmp(v, "NODE_CHANNEL_SERIALIZATION_MODE=", 32) == 0 ||
        strncmp(v, "LOGFS_FUSE_FD=", 14) == 0 || strncmp(v, "LOGFS_STATE_FD=", 15) == 0 ||
        strncmp(v, "LOGFS_RENEWALS=", 15) == 0) {
      continue;
    }
    if (strncmp(v, GEN_FLOOR_ENV "=", gen_prefix) == 0) {
      // The first one is what Node's process.env would have read; handed down as is until an agent mounts.
      if (gen_slot >= 0) continue;
      gen_slot = (int) k;
    }
    agent_envp[k++] = environ[i];
  }
  if (gen_slot < 0) {
    snprintf(gen_var, sizeof gen_var, GEN_FLOOR_ENV "=0");
    gen_slot = (int) k;
    agent_envp[k++] = gen_var;
  }
  agent_envp[k++] = "NODE_CHANNEL_FD=3";
  agent_envp[k++] = "NODE_CHANNEL_SERIALIZATION_MODE=json";
  // Last, so that a NULL in them (no /dev/fuse) ends the list: set by open_held.
  renewals_slot = (int) k;
  agent_envp[k + 3] = NULL;
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--json") == 0) json = 1;
    else if (strcmp(argv[i], "--no-handover") == 0) no_handover = 1;
    else if (strcmp(argv[i], "--upgrade") == 0) upgrade_mount = 1;
    else if (strcmp(argv[i], "--pid-file") == 0 && i + 1 < argc) pid_file = argv[++i];
    else usage();
  }
  if (pid_file == NULL || i + 1 >= argc) usage();
  agent_argv = argv + i + 1;

  // Every descriptor opened from here on is above stdio, so none is taken for stdin, stdout or stderr.
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) return 1;
  }
  // Node, which exec'd into this program, may have made stdout and stderr non-blocking; it would have undone that
  // at its exit, and this exit is its exit now.
  for (int fd = 1; fd < 3; fd++) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }

  const char *level = getenv("LOGFS_LOG_LEVEL");
  if (level) {
    threshold = strcmp(level, "debug") == 0 ? DEBUG : strcmp(level, "info") == 0 ? INFO
      : strcmp(level, "warn") == 0 ? WARN : strcmp(level, "error") == 0 ? ERROR : INFO;
  }

  // Signals arrive as reads from sig_fd, in the one loop below, rather than in handlers.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_SETMASK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig_fd < 0) {
    perror("logfs-supervise: signalfd");
    return 1;
  }
  build_env();
  size_t base_len = strlen(pid_file);
  if (base_len > 4 && strcmp(pid_file + base_len - 4, ".pid") == 0) base_len -= 4;
  snprintf(sock_path, sizeof sock_path, "%.*s.sock", (int) base_len, pid_file);
  if (upgrade_mount) take_held();
  else open_held();
  listen_held();

  start();
  for (;;) {
    struct pollfd fds[3] = { { sig_fd, POLLIN, 0 }, { chan, POLLIN, 0 }, { listener, POLLIN, 0 } };
    int timeout = -1;
    if (restart_at >= 0) {
      long long left = restart_at - now_ms();
      timeout = left > 0 ? (int) left : 0;
    }
    if (poll(fds, 3, timeout) < 0 && errno != EINTR) {
      log_line(ERROR, "supervisor", "poll: %s", strerror(errno));
      end(1);
    }
    if (fds[0].revents) on_signals();
    if (listener >= 0 && fds[2].revents) on_request();
    if (chan >= 0 && fds[1].revents && !read_channel()) {
      close(chan);
      chan = -1;
    }
    if (child && child_exited && chan < 0) on_close();
    if (restart_at >= 0 && now_ms() >= restart_at) start();
  }
}
