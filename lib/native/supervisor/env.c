// The agent's environment: the supervisor's own, without what names another process's descriptors, plus Node's
// IPC channel, the generation floor, the renewals so far and the held descriptors (protocol.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor.h"

extern char **environ;

#define STRING(x) #x
/** A number macro's value as a string literal. */
#define DIGITS(x) STRING(x)

/** Whether `var` is NAME=... */
static int named(const char *var, const char *name) {
  size_t n = strlen(name);
  return strncmp(var, name, n) == 0 && var[n] == '=';
}

/** The agent's environment names the held descriptors (or none), and the renewals so far. */
void sv_set_held_env(struct sv *sv) {
  snprintf(sv->renewals_var, sizeof sv->renewals_var, LF_ENV_RENEWALS "=%d", sv->renewals);
  snprintf(sv->fuse_var, sizeof sv->fuse_var, LF_ENV_FUSE_FD "=%d", LF_FUSE_FD);
  snprintf(sv->state_var, sizeof sv->state_var, LF_ENV_STATE_FD "=%d", LF_STATE_FD);
  sv->agent_envp[sv->renewals_slot] = sv->renewals_var;
  sv->agent_envp[sv->renewals_slot + 1] = sv->fuse_fd >= 0 ? sv->fuse_var : NULL;
  sv->agent_envp[sv->renewals_slot + 2] = sv->fuse_fd >= 0 ? sv->state_var : NULL;
}

/** The agent's environment: ours, with its generation floor and Node's IPC channel. */
void sv_build_env(struct sv *sv) {
  size_t n = 0;
  while (environ[n]) n++;
  char **envp = sv->agent_envp = calloc(n + 7, sizeof *envp);
  if (envp == NULL) {
    fputs("logfs-supervise: out of memory\n", stderr);
    exit(1);
  }
  size_t k = 0;
  sv->gen_slot = -1;
  for (size_t i = 0; i < n; i++) {
    const char *v = environ[i];
    if (named(v, "NODE_CHANNEL_FD") || named(v, "NODE_CHANNEL_SERIALIZATION_MODE") ||
        named(v, LF_ENV_FUSE_FD) || named(v, LF_ENV_STATE_FD) || named(v, LF_ENV_RENEWALS)) {
      continue;
    }
    if (named(v, LF_ENV_GEN_FLOOR)) {
      // The first one is what Node's process.env would have read; handed down as is until an agent mounts.
      if (sv->gen_slot >= 0) continue;
      sv->gen_slot = (int) k;
    }
    envp[k++] = environ[i];
  }
  if (sv->gen_slot < 0) {
    snprintf(sv->gen_var, sizeof sv->gen_var, LF_ENV_GEN_FLOOR "=0");
    sv->gen_slot = (int) k;
    envp[k++] = sv->gen_var;
  }
  envp[k++] = "NODE_CHANNEL_FD=" DIGITS(LF_CHANNEL_FD);
  envp[k++] = "NODE_CHANNEL_SERIALIZATION_MODE=json";
  // Last, so that a NULL in them (no /dev/fuse) ends the list: set by sv_set_held_env.
  sv->renewals_slot = (int) k;
  envp[k + 3] = NULL;
}
