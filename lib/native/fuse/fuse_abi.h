// The kernel's FUSE protocol beyond what libfuse 3 exposes: the raw request header, read by the thread that
// received a request (threads.c), and the resend of requests a dead agent took (takeover.c).
#ifndef LOGFS_FUSE_ABI_H
#define LOGFS_FUSE_ABI_H

#include <stdint.h>

// From the kernel's include/uapi/linux/fuse.h, protocol 7.40 (Linux 6.9); the headers installed here are 7.38.
/** Asks the kernel to send again every request a reader took and never answered. */
#define FUSE_NOTIFY_RESEND 7
/** Set in the id of a request sent again that way. */
#define FUSE_UNIQUE_RESEND (1ULL << 63)
#define FUSE_INIT 26
/** struct fuse_in_header, the start of every request. */
typedef struct in_header {
  uint32_t len, opcode;
  uint64_t unique, nodeid;
  uint32_t uid, gid, pid;
  uint16_t total_extlen, padding;
} in_header;

#endif
