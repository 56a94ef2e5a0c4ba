# The supervisor `logfs mount` execs into (supervise.c): a program of its own, so it carries no Node and no
# libfuse. Built by bin/logfs-setup with the node-gyp that comes with npm; needs a C compiler, make and python3.
{
  "targets": [{
    "target_name": "logfs-supervise",
    "type": "executable",
    "sources": ["supervise.c", "log.c", "pidfile.c", "json.c", "channel.c", "agent.c", "signals.c", "held.c",
      "env.c", "handoff.c"],
    "cflags": ["-O2", "-Wall", "-Wextra"],
    "defines": ["_GNU_SOURCE"]
  }]
}
