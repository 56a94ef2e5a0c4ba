# The store's block tokenizer (tokens.c) as an N-API addon of its own (lib/store/tokenizer.ts loads it), so the
# server's index worker loads no libfuse. Built by bin/logfs-setup with the node-gyp that comes with npm; needs a
# C compiler, make and python3.
{
  "targets": [{
    "target_name": "logfs_tokenizer",
    "sources": ["addon.c", "tokens.c"],
    "cflags": ["-O2", "-Wall", "-Wextra"],
    "defines": ["_GNU_SOURCE"]
  }]
}
