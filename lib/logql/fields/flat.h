/* The json parser's fast path in C, for a scan worker's window of lines (lib/logql/fields.ts loads it): each line
 * that is one flat JSON object of the simple kind lib/logql/json-flat.ts reads (plain names as keys; values ASCII
 * strings without escapes, numbers, booleans or null; spaces only as whitespace) gets the id of the values its
 * named fields hold. Lines with the same values share an id, so the caller evaluates a query's pipeline once per
 * distinct set of values rather than once per line. Any other line gets LF_NOT_FLAT, for the full parser. */
#ifndef LF_FLAT_H
#define LF_FLAT_H

#include <stddef.h>
#include <stdint.h>

#define LF_NOT_FLAT (-1)

/* A field's value as written in the line: a string with its quotes, or a number, true, false or null; len -1 when
 * the line has no such field. */
struct lf_span { int32_t start, len; };

/* The distinct sets of values seen, each n_names spans into the data scanned. */
struct lf_sets {
  size_t n_names, count, cap;
  struct lf_span *spans;
  uint32_t *hashes;
  int32_t *table;
  size_t table_size;
};

/* The names to extract, each `lens[j]` bytes at names[j]. */
struct lf_names { size_t n; const char *const *names; const size_t *lens; };

/* The lines in data[0, len): a line ends at a newline or at len, and no line starts at len. */
size_t lf_count_lines(const uint8_t *data, size_t len);

/* Scans every line: ends[i] gets the offset of line i's end, ids[i] the id of its set of values in *sets (which
 * starts empty: memset to 0) or LF_NOT_FLAT. Returns 0, or -1 when memory ran out. lf_sets_free frees *sets. */
int lf_flat_lines(const uint8_t *data, size_t len, const struct lf_names *names, struct lf_sets *sets,
  int32_t *ids, int32_t *ends);

void lf_sets_free(struct lf_sets *sets);

#endif
