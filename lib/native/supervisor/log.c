// The supervisor's output: log lines on stderr in the agent's format, and --json events on stdout.
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supervisor.h"

long long sv_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** Every byte or an error: stdout and stderr may be pipes a Node process (we, or the agent) made non-blocking. */
int sv_write_all(int fd, const char *buf, size_t len) {
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
void sv_emit(struct sv *sv, const char *line, size_t len) {
  if (!sv->stdout_gone && sv_write_all(STDOUT_FILENO, line, len) != 0 && errno == EPIPE) sv->stdout_gone = 1;
}

/** LF_ENV_LOG_LEVEL's value, as lib/util/log.ts reads it: anything else is info. */
void sv_log_level(struct sv *sv, const char *level) {
  sv->threshold = SV_INFO;
  if (level) {
    sv->threshold = strcmp(level, "debug") == 0 ? SV_DEBUG : strcmp(level, "info") == 0 ? SV_INFO
      : strcmp(level, "warn") == 0 ? SV_WARN : strcmp(level, "error") == 0 ? SV_ERROR : SV_INFO;
  }
}

/** The format of lib/util/log.ts, so the supervisor's lines read like the agent's around them. */
void sv_log(const struct sv *sv, int level, const char *component, const char *fmt, ...) {
  if (level < sv->threshold) return;
  char buf[8192];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const char *name = level == SV_DEBUG ? "debug" : level == SV_INFO ? "info" : level == SV_WARN ? "warn" : "error";
  n += (size_t) snprintf(buf + n, sizeof buf - n, ".%03ldZ %-5s %s: ", ts.tv_nsec / 1000000, name, component);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
  va_end(ap);
  // A message cut short still ends its line.
  if (m > 0) n += (size_t) m < sizeof buf - n - 2 ? (size_t) m : sizeof buf - n - 2;
  buf[n++] = '\n';
  sv_write_all(STDERR_FILENO, buf, n);
}
