# The agent's native core: the FUSE session on libfuse 3, the ring producer, the files' tails and the state a
# restarted agent takes over, as one N-API addon (native.ts loads it). Built by bin/logfs-setup with the node-gyp
# that comes with npm; needs a C compiler, make, python3 and libfuse3-dev (pkg-config fuse3). Symbols are hidden:
# the files share helpers with short names (js.h), and only N-API's module entry is to be seen from outside.
{
  "targets": [{
    "target_name": "logfs_native",
    "sources": ["addon.c", "js_values.c", "js_dispatch.c", "js_session.c", "js_reply.c", "js_rings.c", "js_files.c",
      "js_state.c", "js_exec.c", "session.c", "ops.c", "threads.c", "takeover.c", "reply.c", "intake.c", "files.c",
      "tail.c", "writeback.c", "flusher.c", "state.c", "shared.cc", "budget.c",
      "constants.c"],
    "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden", "<!@(pkg-config --cflags fuse3)"],
    "cflags_cc": ["-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
    "libraries": ["<!@(pkg-config --libs fuse3)"],
    "defines": ["_GNU_SOURCE", "FUSE_USE_VERSION=34"]
  }]
}
