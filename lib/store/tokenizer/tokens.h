/* The store's block tokens (lib/store/tokens.ts defines them; this is the hot loop of lib/store/disk/blocks.ts):
 * runs of [A-Za-z0-9_] of LF_MIN_TOKEN bytes or more, hashed with 32-bit FNV-1a over their first LF_MAX_TOKEN bytes,
 * ASCII-lowercased with | 0x20. The JS side hashes query tokens the same way; test/index.test.ts checks both agree. */
#ifndef LF_TOKENS_H
#define LF_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#define LF_MIN_TOKEN 3
#define LF_MAX_TOKEN 64
#define LF_LEVELS 6

/* One entry's part of a block: tokens starting in [skip, end) are the block's, and may run on up to limit; lines
 * are the newlines in [start, end). */
struct lf_piece { int32_t start, skip, end, limit; };

/* What a piece holds: its newlines, and lines by the first level word in them (level_hashes[i] counted under
 * level_of[i]). */
#define LF_PIECE_STATS (1 + LF_LEVELS)

/* Writes the distinct token hashes of the pieces of `data`, ascending, to *out (malloc'd; the caller frees it) and
 * returns their number, or -1 when memory ran out. stats[p * LF_PIECE_STATS ...] gets piece p's newlines and
 * lines per level. */
int64_t lf_block_tokens(const uint8_t *data, const struct lf_piece *pieces, size_t n_pieces,
  const uint32_t *level_hashes, const uint8_t *level_of, size_t n_levels, uint32_t **out, uint32_t *stats);

#endif
