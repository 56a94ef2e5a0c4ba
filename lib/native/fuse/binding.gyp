# The agent's native core: the FUSE session on libfuse 3, the ring producer, the files' tails and the state a
# restarted agent takes over, as one N-API addon (native.ts loads it). Built by bin/logfs-setup with the node-gyp
# that comes with npm; needs a C compiler, make, python3 and libfuse3-dev (pkg-config fuse3).
{
  "targets": [{
    "target_name": "logfs_native",
    "sources": ["addon.c", "session.c", "intake.c", "files.c", "tail.c", "writeback.c", "flusher.c",
      "state.c", "shared.cc", "budget.c", "constants.c"],
    "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags fuse3)"],
    "cflags_cc": ["-O2", "-Wall", "-Wextra"],
    "libraries": ["<!@(pkg-config --libs fuse3)"],
    "defines": ["_GNU_SOURCE"]
  }]
}
