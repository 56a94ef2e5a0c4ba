# The native core of logfs (lib/native/src), built by bin/logfs-setup with the node-gyp that comes with npm.
# Needs a C compiler, make, python3 and libfuse3-dev (pkg-config fuse3).
{
  "targets": [{
    "target_name": "logfs_native",
    "sources": ["src/addon.c", "src/session.c", "src/intake.c", "src/files.c", "src/tail.c", "src/writeback.c", "src/flusher.c",
      "src/state.c", "src/shared.cc", "src/tokens.c", "src/budget.c"],
    "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags fuse3)"],
    "cflags_cc": ["-O2", "-Wall", "-Wextra"],
    "libraries": ["<!@(pkg-config --libs fuse3)"],
    "defines": ["_GNU_SOURCE"]
  }, {
    # The supervisor `logfs mount` execs into (src/supervise.c): a program of its own, so it carries no Node.
    "target_name": "logfs-supervise",
    "type": "executable",
    "sources": ["src/supervise.c", "src/handoff.c"],
    "cflags": ["-O2", "-Wall", "-Wextra"],
    "defines": ["_GNU_SOURCE"]
  }]
}
