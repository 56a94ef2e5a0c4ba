// See handoff.h.
#include "handoff.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define REQUEST "take 1\n"
/** How long a request may go unanswered: the old agent hands over in well under a second. */
#define ANSWER_MS 30000

static int address(const char *path, struct sockaddr_un *a, char *error, size_t error_len) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a->sun_path) {
    snprintf(error, error_len, "%s: too long for a Unix socket (%zu bytes at most); use a shorter --state-dir",
      path, sizeof a->sun_path - 1);
    return -1;
  }
  strcpy(a->sun_path, path);
  return 0;
}

int lf_handoff_listen(const char *path, unsigned long long *ino, char *error, size_t error_len) {
  struct sockaddr_un a;
  if (address(path, &a, error, error_len) != 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(error, error_len, "socket: %s", strerror(errno));
    return -1;
  }
  unlink(path);
  // Only the owner may ask: the socket hands out the mount itself.
  mode_t old = umask(0077);
  int rc = bind(fd, (struct sockaddr *) &a, sizeof a);
  umask(old);
  struct stat st;
  if (rc != 0 || listen(fd, 4) != 0 || stat(path, &st) != 0) {
    snprintf(error, error_len, "%s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  *ino = (unsigned long long) st.st_ino;
  return fd;
}

void lf_handoff_unlisten(const char *path, int listener, unsigned long long ino) {
  struct stat st;
  close(listener);
  if (stat(path, &st) == 0 && (unsigned long long) st.st_ino == ino) unlink(path);
}

static int wait_for(int fd, short events, int ms) {
  struct pollfd p = { fd, events, 0 };
  int n;
  do n = poll(&p, 1, ms);
  while (n < 0 && errno == EINTR);
  return n > 0 ? 0 : -1;
}

int lf_handoff_request(const char *path, int fds[2], int *renewals, char *error, size_t error_len) {
  struct sockaddr_un a;
  if (address(path, &a, error, error_len) != 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(error, error_len, "socket: %s", strerror(errno));
    return -1;
  }
  if (connect(fd, (struct sockaddr *) &a, sizeof a) != 0) {
    int err = errno;
    close(fd);
    if (err == ENOENT || err == ECONNREFUSED) return 0;
    snprintf(error, error_len, "%s: %s", path, strerror(err));
    return -1;
  }
  char text[64];
  char control[CMSG_SPACE(2 * sizeof(int))];
  struct iovec io = { text, sizeof text - 1 };
  struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  ssize_t n = -1;
  if (write(fd, REQUEST, sizeof REQUEST - 1) == (ssize_t) sizeof REQUEST - 1 && wait_for(fd, POLLIN, ANSWER_MS) == 0) {
    n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
  }
  close(fd);
  struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
  if (c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
    snprintf(error, error_len, "the running supervisor did not hand the mount off (%s)",
      n < 0 ? "no answer" : "no descriptors");
    return -1;
  }
  memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
  text[n] = '\0';
  if (sscanf(text, "held 1 %d", renewals) != 1) {
    close(fds[0]);
    close(fds[1]);
    snprintf(error, error_len, "the running supervisor answered in another protocol: %.32s", text);
    return -1;
  }
  return 1;
}

int lf_handoff_accept(int listener) {
  int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return -1;
  char text[sizeof REQUEST];
  ssize_t n = wait_for(fd, POLLIN, 1000) == 0 ? read(fd, text, sizeof text - 1) : -1;
  if (n != (ssize_t) sizeof REQUEST - 1 || memcmp(text, REQUEST, sizeof REQUEST - 1) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int lf_handoff_send(int conn, const int fds[2], int renewals) {
  char text[64];
  int len = snprintf(text, sizeof text, "held 1 %d\n", renewals);
  char control[CMSG_SPACE(2 * sizeof(int))];
  memset(control, 0, sizeof control);
  struct iovec io = { text, (size_t) len };
  struct msghdr m = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  memcpy(CMSG_DATA(c), fds, 2 * sizeof(int));
  ssize_t n = sendmsg(conn, &m, MSG_NOSIGNAL);
  int err = errno;
  close(conn);
  errno = err;
  return n == len ? 0 : -1;
}
