/* The supervisor's data, in one struct passed to every part (as libfuse's passthrough_ll.c passes struct
 * lo_data), and the parts' entry points. One job per file: log.c, pidfile.c, json.c, channel.c, agent.c
 * (the child's life and backoff), signals.c, held.c (what outlives agents, and the supervisor
 * handoff), env.c, supervise.c (options and the loop). */
#ifndef LOGFS_SUPERVISOR_H
#define LOGFS_SUPERVISOR_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "../protocol.h"

/**
 * A line at most this long: the longest message is `mounted` with a mount point (PATH_MAX, escaped). A longer
 * one is dropped whole rather than read in pieces.
 */
#define SV_LINE_MAX (1 << 16)

struct sv {
  /* Options. */
  int json;
  int no_handover;
  /** --upgrade: take the mount over from the supervisor running at this place (handoff.h). */
  int upgrade_mount;
  /** Names the supervisor once an agent has mounted: `logfs umount` signals it, and it outlives restarts. */
  const char *pid_file;
  char **agent_argv;

  /* The logger. */
  int threshold;
  int stdout_gone;

  /* The agent's environment (env.c). */
  char **agent_envp;
  /** agent_envp's LF_ENV_GEN_FLOOR entry points here once an agent has said its generation. */
  char gen_var[sizeof LF_ENV_GEN_FLOOR + 32];
  int gen_slot;
  char renewals_var[48], fuse_var[32], state_var[32];
  int renewals_slot;

  /* What outlives agents (held.c): the mount's connection and the memfd; -1 when /dev/fuse could not be opened. */
  int fuse_fd, state_fd;
  int renewals;
  char sock_path[PATH_MAX + 8];
  int listener;
  unsigned long long listener_ino;
  /** A new supervisor's request being answered once the agent is gone; then this one only waits to be stopped. */
  int handing, handed_off;

  int sig_fd;

  /* The agent (agent.c): from its start until its close (exit and the end of its channel). */
  pid_t child;
  int child_exited, child_status;
  int stopping, ever_mounted, quick_failures;
  /** A stop asked while no agent ran, for the agent started to drain the memfd (signals.c, forward). */
  int stop_signal;
  /** The running agent said it is stopping (its drain began). */
  int agent_stopping;
  /** Agents started to drain after a stop; an agent that keeps dying is not started for ever. */
  int drain_attempts;
  long long started_ms, restart_at;

  /* The agent's channel (channel.c). */
  int chan;
  char line[SV_LINE_MAX];
  size_t used;
  int overlong;
};

/* log.c */
enum { SV_DEBUG = 10, SV_INFO = 20, SV_WARN = 30, SV_ERROR = 40 };
void sv_log_level(struct sv *sv, const char *level);
__attribute__((format(printf, 4, 5)))
void sv_log(const struct sv *sv, int level, const char *component, const char *fmt, ...);
void sv_emit(struct sv *sv, const char *line, size_t len);
int sv_write_all(int fd, const char *buf, size_t len);
long long sv_now_ms(void);

/* pidfile.c */
void sv_dir_of(const char *path, char *dir, size_t size);
int sv_make_dirs(char *dir);
void sv_write_pid(const struct sv *sv);
void sv_release_pid(const struct sv *sv);

/* json.c: the fields `keys` of a one-line flat JSON object (values[i] NULL when absent); -1 when it is not one. */
int sv_json_fields(const char *line, size_t len, const char *const keys[], size_t n,
  const char *values[], size_t lens[]);
/** Whether a value found so is the string `text` (unescaped). */
int sv_json_is_string(const char *token, size_t len, const char *text);

/* channel.c */
int sv_read_channel(struct sv *sv);

/* agent.c */
void sv_start(struct sv *sv);
void sv_on_close(struct sv *sv);

/* signals.c */
int sv_signals_open(struct sv *sv);
void sv_on_signals(struct sv *sv);

/* held.c */
void sv_open_held(struct sv *sv);
void sv_take_held(struct sv *sv);
void sv_listen_held(struct sv *sv);
void sv_on_request(struct sv *sv);
void sv_hand_off(struct sv *sv);

/* env.c */
void sv_build_env(struct sv *sv);
void sv_set_held_env(struct sv *sv);

/* supervise.c: leaves, releasing the socket and the pid file. */
__attribute__((noreturn)) void sv_end(struct sv *sv, int code);

#endif
