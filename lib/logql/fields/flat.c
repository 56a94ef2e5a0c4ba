/* The scan of flat.h: a line is checked for bytes the simple kind excludes, then read field by field, its named
 * fields' values kept as spans; the spans are interned in an open-addressing table of their hashes. */
#include "flat.h"

#include <stdlib.h>
#include <string.h>

size_t lf_count_lines(const uint8_t *data, size_t len) {
  size_t n = 0;
  for (const uint8_t *p = data, *end = data + len; p < end; n++) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
  }
  return n;
}

/* Bytes json-flat.ts leaves to the full parser: control characters, backslashes (escapes), and all outside ASCII. */
static int plain(const uint8_t *p, const uint8_t *end) {
  int bad = 0;
  for (; p < end; p++) bad |= (*p < 0x20) | (*p >= 0x7f) | (*p == '\\');
  return !bad;
}

static int name_start(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int name_char(uint8_t c) { return name_start(c) || digit(c); }

static const uint8_t *spaces(const uint8_t *p, const uint8_t *end) {
  while (p < end && *p == ' ') p++;
  return p;
}

/* A JSON number's end from p (JSON's grammar), or NULL when none starts there. */
static const uint8_t *number_end(const uint8_t *p, const uint8_t *end) {
  if (p < end && *p == '-') p++;
  if (p < end && *p == '0') {
    p++;
  } else if (p < end && digit(*p)) {
    while (p < end && digit(*p)) p++;
  } else {
    return NULL;
  }
  if (p < end && *p == '.') {
    if (++p >= end || !digit(*p)) return NULL;
    while (p < end && digit(*p)) p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    if (++p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || !digit(*p)) return NULL;
    while (p < end && digit(*p)) p++;
  }
  return p;
}

static int word(const uint8_t *p, const uint8_t *end, const char *w, size_t n) {
  return (size_t)(end - p) >= n && memcmp(p, w, n) == 0;
}

/* Reads the line [p, end) into spans (offsets from base); 0 when it is not of the simple kind. */
static int read_line(const uint8_t *base, const uint8_t *p, const uint8_t *end, const struct lf_names *names,
  struct lf_span *spans) {
  for (size_t j = 0; j < names->n; j++) spans[j] = (struct lf_span){ 0, -1 };
  if (!plain(p, end)) return 0;
  p = spaces(p, end);
  if (p >= end || *p++ != '{') return 0;
  p = spaces(p, end);
  if (p < end && *p == '}') return spaces(p + 1, end) == end;
  for (;;) {
    if (p >= end || *p++ != '"' || p >= end || !name_start(*p)) return 0;
    const uint8_t *key = p;
    while (p < end && name_char(*p)) p++;
    if (p >= end || *p != '"') return 0;
    size_t key_len = (size_t)(p - key);
    int field = -1;
    for (size_t j = 0; j < names->n; j++) {
      if (names->lens[j] == key_len && memcmp(names->names[j], key, key_len) == 0) field = (int)j;
    }
    p = spaces(p + 1, end);
    if (p >= end || *p++ != ':') return 0;
    p = spaces(p, end);
    if (p >= end) return 0;
    const uint8_t *value = p;
    if (*p == '"') {
      const uint8_t *close = memchr(p + 1, '"', (size_t)(end - p - 1));
      if (!close) return 0;
      p = close + 1;
    } else if (word(p, end, "true", 4) || word(p, end, "null", 4)) {
      p += 4;
    } else if (word(p, end, "false", 5)) {
      p += 5;
    } else if (!(p = number_end(p, end))) {
      return 0;
    }
    /* The last of a repeated key wins, as in JSON.parse. */
    if (field >= 0) spans[field] = (struct lf_span){ (int32_t)(value - base), (int32_t)(p - value) };
    p = spaces(p, end);
    if (p >= end) return 0;
    uint8_t next = *p++;
    if (next == '}') return spaces(p, end) == end;
    if (next != ',') return 0;
    p = spaces(p, end);
  }
}

static uint32_t hash_spans(const uint8_t *base, const struct lf_span *spans, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t j = 0; j < n; j++) {
    h = (h ^ (uint32_t)(spans[j].len + 1)) * 16777619u;
    for (int32_t i = 0; i < spans[j].len; i++) h = (h ^ base[spans[j].start + i]) * 16777619u;
  }
  return h;
}

static int same(const uint8_t *base, const struct lf_span *a, const struct lf_span *b, size_t n) {
  for (size_t j = 0; j < n; j++) {
    if (a[j].len != b[j].len) return 0;
    if (a[j].len > 0 && memcmp(base + a[j].start, base + b[j].start, (size_t)a[j].len) != 0) return 0;
  }
  return 1;
}

/* Doubles the table (kept at most half full) and puts every set back. */
static int grow_table(struct lf_sets *s) {
  size_t size = s->table_size ? s->table_size * 2 : 1024;
  int32_t *table = malloc(size * sizeof *table);
  if (!table) return -1;
  memset(table, 0xff, size * sizeof *table);
  for (size_t i = 0; i < s->count; i++) {
    size_t at = s->hashes[i] & (size - 1);
    while (table[at] >= 0) at = (at + 1) & (size - 1);
    table[at] = (int32_t)i;
  }
  free(s->table);
  s->table = table;
  s->table_size = size;
  return 0;
}

/* The id of the set `spans`, added when new; -1 when memory ran out. */
static int32_t intern(struct lf_sets *s, const uint8_t *base, const struct lf_span *spans) {
  if ((s->count + 1) * 2 > s->table_size && grow_table(s) != 0) return -1;
  uint32_t h = hash_spans(base, spans, s->n_names);
  size_t at = h & (s->table_size - 1);
  for (; s->table[at] >= 0; at = (at + 1) & (s->table_size - 1)) {
    int32_t id = s->table[at];
    if (s->hashes[id] == h && same(base, s->spans + (size_t)id * s->n_names, spans, s->n_names)) return id;
  }
  if (s->count == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    struct lf_span *more = realloc(s->spans, cap * s->n_names * sizeof *more);
    if (!more) return -1;
    s->spans = more;
    uint32_t *hashes = realloc(s->hashes, cap * sizeof *hashes);
    if (!hashes) return -1;
    s->hashes = hashes;
    s->cap = cap;
  }
  memcpy(s->spans + s->count * s->n_names, spans, s->n_names * sizeof *spans);
  s->hashes[s->count] = h;
  s->table[at] = (int32_t)s->count;
  return (int32_t)s->count++;
}

int lf_flat_lines(const uint8_t *data, size_t len, const struct lf_names *names, struct lf_sets *sets,
  int32_t *ids, int32_t *ends) {
  sets->n_names = names->n;
  /* One span for a query without names, so a set always has room to be read and compared. */
  struct lf_span *spans = malloc((names->n ? names->n : 1) * sizeof *spans);
  if (!spans) return -1;
  size_t i = 0;
  for (const uint8_t *p = data, *end = data + len; p < end; i++) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *line_end = nl ? nl : end;
    ends[i] = (int32_t)(line_end - data);
    ids[i] = LF_NOT_FLAT;
    if (read_line(data, p, line_end, names, spans) && (ids[i] = intern(sets, data, spans)) < 0) {
      free(spans);
      return -1;
    }
    p = nl ? nl + 1 : end;
  }
  free(spans);
  return 0;
}

void lf_sets_free(struct lf_sets *sets) {
  free(sets->spans);
  free(sets->hashes);
  free(sets->table);
  memset(sets, 0, sizeof *sets);
}
