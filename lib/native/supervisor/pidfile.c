// The pid file, which names the process `logfs umount` signals: written and released the way lib/agent/state-dir.ts
// does it (writePid, releasePid) for an agent running without a supervisor.
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor.h"

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
int sv_make_dirs(char *dir) {
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(dir, 0777);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return -1;
  }
  return mkdir(dir, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/** The directory `path` is in. */
void sv_dir_of(const char *path, char *dir, size_t size) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) snprintf(dir, size, ".");
  else snprintf(dir, size, "%.*s", slash == path ? 1 : (int) (slash - path), path);
}

/**
 * Names this process as the one to signal: written to a temporary file, fsynced and renamed over the old one,
 * so a reader never sees it empty or half written. A failure is logged, not fatal: the mount works on without it.
 */
void sv_write_pid(const struct sv *sv) {
  const char *pid_file = sv->pid_file;
  char dir[PATH_MAX], tmp[PATH_MAX], text[32], why[3 * PATH_MAX];
  sv_dir_of(pid_file, dir, sizeof dir);
  if ((size_t) snprintf(tmp, sizeof tmp, "%s.tmp", pid_file) >= sizeof tmp) {
    describe(why, sizeof why, ENAMETOOLONG, "open", pid_file, NULL);
    goto failed;
  }
  if (sv_make_dirs(dir) != 0) {
    describe(why, sizeof why, errno, "mkdir", dir, NULL);
    goto failed;
  }
  int len = snprintf(text, sizeof text, "%d\n", (int) getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    describe(why, sizeof why, errno, "open", tmp, NULL);
    goto failed;
  }
  const char *failed_call = sv_write_all(fd, text, (size_t) len) != 0 ? "write" : fsync(fd) != 0 ? "fsync" : NULL;
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
  sv_log(sv, SV_ERROR, "agent", "cannot write %s; logfs umount will not find this mount: %s", pid_file, why);
}

/** Removes the pid file if it names this process: a newer mount at the same place may have taken it over. */
void sv_release_pid(const struct sv *sv) {
  char buf[64];
  int fd = open(sv->pid_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  char *p = buf, *end;
  while (isspace((unsigned char) *p)) p++;
  long pid = strtol(p, &end, 10);
  while (isspace((unsigned char) *end)) end++;
  if (end != p && *end == '\0' && pid == (long) getpid()) unlink(sv->pid_file);
}
