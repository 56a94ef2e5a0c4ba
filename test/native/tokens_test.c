// The store's block tokenizer (lib/store/tokenizer/tokens.c) on the sizes its pieces take. Run by producer_test.c.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tests.h"
#include "tokens.h"

static uint32_t fnv_lower(const char *s) {
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; s[i] && i < LF_MAX_TOKEN; i++) h = (h ^ (uint32_t)((uint8_t) s[i] | 0x20)) * 0x01000193u;
  return h;
}

static int has_hash(const uint32_t *hashes, int64_t n, uint32_t h) {
  for (int64_t i = 0; i < n; i++) if (hashes[i] == h) return 1;
  return 0;
}

/* The store's block tokenizer on the sizes its pieces take: tokens that run past a piece's end up to its limit,
 * the 64-byte cut, the set growing past its first size, per-piece lines and levels. */
void block_tokens(void) {
  char *data = malloc(300000);
  size_t n = (size_t) sprintf(data, "ERROR first line ab x_y_z\ninfo second %s\nwarning tail", "q");
  const struct lf_piece one[] = { { 0, 0, (int32_t) n - 2, (int32_t) n } };
  const uint32_t levels[] = { fnv_lower("error"), fnv_lower("info"), fnv_lower("warning") };
  const uint8_t level_of[] = { 1, 3, 2 };
  uint32_t stats[LF_PIECE_STATS], *hashes = NULL;
  int64_t got = lf_block_tokens((const uint8_t *) data, one, 1, levels, level_of, 3, &hashes, stats);
  CHECK(got > 0, "tokens found");
  CHECK(has_hash(hashes, got, fnv_lower("error")), "lowercased");
  CHECK(has_hash(hashes, got, fnv_lower("x_y_z")), "underscore is a word byte");
  CHECK(!has_hash(hashes, got, fnv_lower("ab")), "two bytes are too short");
  CHECK(has_hash(hashes, got, fnv_lower("tail")), "a token starting before the end runs on to the limit");
  for (int64_t i = 1; i < got; i++) CHECK(hashes[i - 1] < hashes[i], "ascending and distinct");
  CHECK_EQ(stats[0], 2, "newlines");
  CHECK(stats[1 + 1] == 1 && stats[1 + 3] == 1 && stats[1 + 2] == 1, "one line per level word");
  free(hashes);
  // Many distinct tokens (the set grows) and one longer than the 64-byte cut.
  size_t at = 0;
  for (int i = 0; i < 20000; i++) at += (size_t) sprintf(data + at, "tok%d ", i);
  memset(data + at, 'k', 100);
  at += 100;
  const struct lf_piece two[] = { { 0, 0, (int32_t) at / 2, (int32_t) at / 2 }, { (int32_t) at / 2, (int32_t) at / 2,
    (int32_t) at, (int32_t) at } };
  uint32_t stats2[2 * LF_PIECE_STATS];
  got = lf_block_tokens((const uint8_t *) data, two, 2, levels, level_of, 3, &hashes, stats2);
  CHECK(got >= 20000, "every distinct token kept");
  char cut[LF_MAX_TOKEN + 1];
  memset(cut, 'k', LF_MAX_TOKEN);
  cut[LF_MAX_TOKEN] = 0;
  CHECK(has_hash(hashes, got, fnv_lower(cut)), "a long token hashed by its first 64 bytes");
  free(hashes);
  free(data);
  // A long token that ends where its allocation does, at lengths around the 16-byte steps that pass over its bytes
  // beyond the 64 hashed: none of them reads past the end (AddressSanitizer would stop here).
  for (int32_t len = LF_MAX_TOKEN; len <= LF_MAX_TOKEN + 40; len++) {
    uint8_t *exact = malloc((size_t) len);
    memset(exact, 'k', (size_t) len);
    const struct lf_piece whole[] = { { 0, 0, len, len } };
    got = lf_block_tokens(exact, whole, 1, levels, level_of, 3, &hashes, stats);
    CHECK(got == 1 && hashes[0] == fnv_lower(cut), "a token to the very end is one token, its first 64 bytes");
    free(hashes);
    free(exact);
  }
}
