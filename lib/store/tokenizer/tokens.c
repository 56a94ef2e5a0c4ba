/* The store's block tokens: see tokens.h. Plain C over bytes, about ten times the speed of the same loop in
 * JavaScript, so that indexing does not take the CPU that ingest needs on a small machine (bench:query). One pass
 * over a piece: newlines are counted in the gaps between tokens, and a token's bytes past the hashed ones are passed
 * over 16 at a time. */
#include "tokens.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define W1(c) [c] = 1
#define W10(c) W1(c), W1(c + 1), W1(c + 2), W1(c + 3), W1(c + 4), W1(c + 5), W1(c + 6), W1(c + 7), W1(c + 8), W1(c + 9)
/* [A-Za-z0-9_] */
static const uint8_t word_byte[256] = {
  W10('0'), W10('A'), W10('A' + 10), W1('A' + 20), W1('A' + 21), W1('A' + 22), W1('A' + 23), W1('A' + 24), W1('Z'),
  W10('a'), W10('a' + 10), W1('a' + 20), W1('a' + 21), W1('a' + 22), W1('a' + 23), W1('a' + 24), W1('z'), W1('_'),
};
#define word(c) word_byte[(c)]

/* The newlines of data[0, n). */
static uint32_t count_newlines(const uint8_t *data, int32_t n) {
  uint32_t lines = 0;
  for (const uint8_t *p = data, *e = data + (n > 0 ? n : 0); (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) {
    lines++;
  }
  return lines;
}

/* Where the run of word bytes at data[i] ends, at limit at most. A token's bytes past LF_MAX_TOKEN are not hashed,
 * only passed over: 16 at a time where SSE2 is (every x86-64), as a run can be a whole block of one byte (padding,
 * base64, a long hex dump). */
static int32_t skip_word(const uint8_t *data, int32_t i, int32_t limit) {
#ifdef __SSE2__
  const __m128i case_bit = _mm_set1_epi8(0x20), a = _mm_set1_epi8('a'), letters = _mm_set1_epi8(25);
  const __m128i zero = _mm_set1_epi8('0'), digits = _mm_set1_epi8(9), underscore = _mm_set1_epi8('_');
  for (; i + 16 <= limit; i += 16) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(data + i));
    /* x - lo <= span, unsigned, is min(x - lo, span) == x - lo. */
    const __m128i l = _mm_sub_epi8(_mm_or_si128(v, case_bit), a), d = _mm_sub_epi8(v, zero);
    const __m128i is = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, letters), l),
      _mm_cmpeq_epi8(_mm_min_epu8(d, digits), d)), _mm_cmpeq_epi8(v, underscore));
    const unsigned not_word = ~(unsigned)_mm_movemask_epi8(is) & 0xffffu;
    if (not_word) return i + __builtin_ctz(not_word);
  }
#endif
  while (i < limit && word(data[i])) i++;
  return i;
}

/* Distinct hashes by open addressing; slot value 0 is empty, so hash 0 is kept aside. */
struct set { uint32_t *slots; size_t mask, size; int zero; };

static int set_place(uint32_t *slots, size_t mask, uint32_t h) {
  size_t i = (size_t)((h * 0x9e3779b1u) & mask);
  for (; slots[i] != 0; i = (i + 1) & mask) if (slots[i] == h) return 0;
  slots[i] = h;
  return 1;
}

static int set_add(struct set *s, uint32_t h) {
  if (h == 0) { s->zero = 1; return 0; }
  if (!set_place(s->slots, s->mask, h) || ++s->size * 2 <= s->mask + 1) return 0;
  size_t cap = (s->mask + 1) * 2;
  uint32_t *bigger = calloc(cap, sizeof *bigger);
  if (!bigger) return -1;
  for (size_t i = 0; i <= s->mask; i++) if (s->slots[i]) set_place(bigger, cap - 1, s->slots[i]);
  free(s->slots);
  s->slots = bigger;
  s->mask = cap - 1;
  return 0;
}

static int ascending(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int64_t lf_block_tokens(const uint8_t *data, const struct lf_piece *pieces, size_t n_pieces,
    const uint32_t *level_hashes, const uint8_t *level_of, size_t n_levels, uint32_t **out,
    uint32_t *stats) {
  /* A 256 KiB block of logs has a few thousand distinct tokens: start there, grow past it. */
  struct set s = { calloc(1 << 13, sizeof(uint32_t)), (1 << 13) - 1, 0, 0 };
  if (!s.slots) return -1;
  for (size_t p = 0; p < n_pieces; p++) {
    const struct lf_piece *pc = &pieces[p];
    const int32_t end = pc->end, limit = pc->limit;
    /* Newlines are never word bytes: those from skip on are counted by the gap loop below, which sees every
     * non-word byte of [skip, end) once. */
    uint32_t lines = count_newlines(data + pc->start, pc->skip - pc->start), levels[LF_LEVELS] = { 0 };
    int level_seen = 0;
    int32_t i = pc->skip;
    while (i < end) {
      while (i < end && !word(data[i])) { if (data[i] == '\n') { lines++; level_seen = 0; } i++; }
      if (i >= end) break;
      int32_t start = i;
      int32_t stop = limit < start + LF_MAX_TOKEN ? limit : start + LF_MAX_TOKEN;
      uint32_t h = 0x811c9dc5u;
      for (; i < stop && word(data[i]); i++) h = (h ^ (uint32_t)(data[i] | 0x20)) * 0x01000193u;
      if (i == stop) i = skip_word(data, i, limit);
      if (i - start < LF_MIN_TOKEN) continue;
      if (set_add(&s, h) < 0) { free(s.slots); return -1; }
      if (level_seen) continue;
      for (size_t l = 0; l < n_levels; l++) {
        if (level_hashes[l] == h) { levels[level_of[l]]++; level_seen = 1; break; }
      }
    }
    uint32_t *st = stats + p * LF_PIECE_STATS;
    st[0] = lines;
    memcpy(st + 1, levels, sizeof levels);
  }
  uint32_t *hashes = malloc((s.size + 1) * sizeof *hashes);
  if (!hashes) { free(s.slots); return -1; }
  size_t n = 0;
  if (s.zero) hashes[n++] = 0;
  for (size_t i = 0; i <= s.mask; i++) if (s.slots[i]) hashes[n++] = s.slots[i];
  free(s.slots);
  qsort(hashes, n, sizeof *hashes, ascending);
  *out = hashes;
  return (int64_t)n;
}
