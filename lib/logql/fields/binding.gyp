# The json parser's fast path (flat.c) as an N-API addon of its own (lib/logql/fields.ts loads it in the scan
# workers). Built by bin/logfs-setup with the node-gyp that comes with npm; needs a C compiler, make and python3.
{
  "targets": [{
    "target_name": "logfs_fields",
    "sources": ["addon.c", "flat.c"],
    "cflags": ["-O3", "-Wall", "-Wextra"],
    "defines": ["_GNU_SOURCE"]
  }]
}
