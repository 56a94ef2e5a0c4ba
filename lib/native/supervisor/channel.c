// The agent's channel: Node's IPC channel (fd LF_CHANNEL_FD in the agent, json serialization: one object per
// line), of which the supervisor reads the agent's events and ignores the rest.
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "supervisor.h"

/** `mounted`: the agent serves the mount. */
static void on_mounted(struct sv *sv, const char *line, size_t len, const char *gen, size_t gen_len) {
  sv->ever_mounted = 1;
  // JSON.stringify wrote the number as String() would: handed down as it came.
  if (gen && (*gen == '-' || isdigit((unsigned char) *gen)) &&
      gen_len < sizeof sv->gen_var - sizeof LF_ENV_GEN_FLOOR) {
    snprintf(sv->gen_var, sizeof sv->gen_var, LF_ENV_GEN_FLOOR "=%.*s", (int) gen_len, gen);
    sv->agent_envp[sv->gen_slot] = sv->gen_var;
  }
  // The mount is announced once the pid file names the supervisor, so `logfs umount` right after `mounted`
  // finds the process to signal. The line is the one the agent would print itself, newline included.
  sv_write_pid(sv);
  if (sv->json) sv_emit(sv, line, len + 1);
  if (sv->stop_signal) {
    kill(sv->child, sv->stop_signal);
    sv->stop_signal = 0;
  }
}

/**
 * One message: a JSON object on one line, written by JSON.stringify, so keys and the values looked at here come
 * unescaped. Anything else (Node's internal messages, which have no event) is none of the supervisor's business.
 */
static void on_message(struct sv *sv, const char *line, size_t len) {
  static const char *const keys[] = { "event", "gen" };
  const char *values[2];
  size_t lens[2];
  if (sv_json_fields(line, len, keys, 2, values, lens) != 0) return;
  if (sv_json_is_string(values[0], lens[0], LF_EVENT_MOUNTED)) on_mounted(sv, line, len, values[1], lens[1]);
  // The agent was signalled itself (its pid killed, systemd, kubelet): what follows is its stop, not a crash.
  if (sv_json_is_string(values[0], lens[0], LF_EVENT_STOPPING)) sv->stopping = sv->agent_stopping = 1;
}

/** Reads what the channel has; 0 once it ended (the agent, and whatever it left the channel to, closed it). */
int sv_read_channel(struct sv *sv) {
  ssize_t n;
  do n = read(sv->chan, sv->line + sv->used, sizeof sv->line - sv->used);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  size_t from = sv->used, start = 0;
  sv->used += (size_t) n;
  for (size_t i = from; i < sv->used; i++) {
    if (sv->line[i] != '\n') continue;
    if (!sv->overlong) on_message(sv, sv->line + start, i - start);
    sv->overlong = 0;
    start = i + 1;
  }
  memmove(sv->line, sv->line + start, sv->used - start);
  sv->used -= start;
  if (sv->used == sizeof sv->line) {
    sv->overlong = 1;
    sv->used = 0;
  }
  return 1;
}
