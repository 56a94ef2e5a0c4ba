#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "js.h"

/**
 * exec(file, args): replaces this process with `file` (argv[0] = file), keeping its pid; returns only by throwing.
 * Node 20 has no process.execve, and `logfs mount` must become its supervisor without a Node left around it.
 */
napi_value js_exec(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint32_t n;
  CHECK(napi_get_array_length(env, argv[1], &n));
  char **args = calloc(n + 2, sizeof *args);
  if (args == NULL) return throw_msg(env, "exec: out of memory");
  int failed = 0;
  for (uint32_t i = 0; i <= n && !failed; i++) {
    napi_value s = argv[0];
    size_t len;
    failed = (i > 0 && napi_get_element(env, argv[1], i - 1, &s) != napi_ok) ||
      napi_get_value_string_utf8(env, s, NULL, 0, &len) != napi_ok || (args[i] = malloc(len + 1)) == NULL ||
      napi_get_value_string_utf8(env, s, args[i], len + 1, &len) != napi_ok;
  }
  char message[4200];
  if (failed) {
    snprintf(message, sizeof message, "exec: expected (file: string, args: string[])");
  } else {
    // Node marks stdin, stdout and stderr close-on-exec; the new program is to write where this one did.
    int fd_flags[3];
    for (int fd = 0; fd < 3; fd++) {
      fd_flags[fd] = fcntl(fd, F_GETFD);
      if (fd_flags[fd] > 0) fcntl(fd, F_SETFD, fd_flags[fd] & ~FD_CLOEXEC);
    }
    execv(args[0], args);
    int err = errno;
    for (int fd = 0; fd < 3; fd++) if (fd_flags[fd] > 0) fcntl(fd, F_SETFD, fd_flags[fd]);
    snprintf(message, sizeof message, "exec %s: %s", args[0], strerror(err));
  }
  for (uint32_t i = 0; i <= n; i++) free(args[i]);
  free(args);
  return throw_msg(env, message);
}
