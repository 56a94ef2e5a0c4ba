// The json fast path (lib/logql/fields/flat.c) on lines of each kind it takes or leaves. Run by producer_test.c.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "flat.h"
#include "tests.h"

/* The value of field j in line i's set, as written, or "-" when absent or the line is not flat. */
static const char *value(const char *data, const struct lf_sets *s, const int32_t *ids, size_t i, size_t j) {
  static char out[64];
  if (ids[i] == LF_NOT_FLAT) return "!";
  const struct lf_span *sp = &s->spans[(size_t)ids[i] * s->n_names + j];
  if (sp->len < 0) return "-";
  snprintf(out, sizeof out, "%.*s", (int)sp->len, data + sp->start);
  return out;
}

/* Flat objects give their named fields' values; every other line is LF_NOT_FLAT; equal values share a set. */
void flat_lines(void) {
  const char *data =
    "{\"level\":\"info\",\"d\":12}\n"                      /* 0: both */
    " { \"d\" : -1.5e3 , \"level\" : \"info\" } \n"        /* 1: spaces, a number's every part */
    "{\"level\":\"warn\",\"level\":\"error\"}\n"           /* 2: the last of a repeated key wins */
    "{\"x\":true,\"y\":false,\"z\":null}\n"                 /* 3: no named field */
    "{\"level\":\"a\\\"b\"}\n"                             /* 4: an escape */
    "{\"level\":{\"n\":1}}\n"                               /* 5: nesting */
    "{\"level\":\"info\"} x\n"                              /* 6: text after the object */
    "{\"d\":01}\n"                                          /* 7: not JSON's number */
    "{\"level\":\"caf\xc3\xa9\"}\n"                         /* 8: outside ASCII */
    "\n"                                                    /* 9: empty */
    "{}\n"                                                  /* 10: empty object */
    "{\"d\":12,\"level\":\"info\"}\n"                      /* 11: line 0's values, in another order */
    "{\"level\":\"info\"";                                  /* 12: cut short, no newline */
  size_t len = strlen(data);
  const char *names[] = { "level", "d" };
  const size_t lens[] = { 5, 1 };
  const struct lf_names n = { 2, names, lens };
  CHECK_EQ(lf_count_lines((const uint8_t *)data, len), 13, "lines");
  CHECK_EQ(lf_count_lines((const uint8_t *)"a\nb\n", 4), 2, "no line after the last newline");
  int32_t ids[13], ends[13];
  struct lf_sets s;
  memset(&s, 0, sizeof s);
  CHECK_EQ(lf_flat_lines((const uint8_t *)data, len, &n, &s, ids, ends), 0, "scanned");
  CHECK(strcmp(value(data, &s, ids, 0, 0), "\"info\"") == 0 && strcmp(value(data, &s, ids, 0, 1), "12") == 0,
    "line 0's values");
  CHECK(strcmp(value(data, &s, ids, 1, 1), "-1.5e3") == 0, "line 1's number as written");
  CHECK(strcmp(value(data, &s, ids, 2, 0), "\"error\"") == 0, "the last of a repeated key");
  CHECK(strcmp(value(data, &s, ids, 3, 0), "-") == 0 && strcmp(value(data, &s, ids, 3, 1), "-") == 0, "absent");
  for (int i = 4; i <= 9; i++) CHECK_EQ(ids[i], LF_NOT_FLAT, "a line for the full parser");
  CHECK_EQ(ids[12], LF_NOT_FLAT, "a line cut short");
  CHECK(ids[10] != LF_NOT_FLAT && ids[10] == ids[3], "{} has no named field either");
  CHECK(ids[11] == ids[0] && ids[1] != ids[0], "equal values share a set");
  CHECK_EQ(ends[0], strchr(data, '\n') - data, "a line ends at its newline");
  CHECK_EQ(ends[12], len, "the last line ends with the data");
  lf_sets_free(&s);
}

/* Many distinct sets: the table grows, and each line keeps its own. */
void flat_many_sets(void) {
  size_t cap = 5000 * 32, len = 0;
  char *data = malloc(cap);
  for (int i = 0; i < 5000; i++) len += (size_t)sprintf(data + len, "{\"id\":%d,\"k\":\"v\"}\n", i % 3000);
  const char *names[] = { "id" };
  const size_t lens[] = { 2 };
  const struct lf_names n = { 1, names, lens };
  int32_t *ids = malloc(5000 * sizeof *ids), *ends = malloc(5000 * sizeof *ends);
  struct lf_sets s;
  memset(&s, 0, sizeof s);
  CHECK_EQ(lf_flat_lines((const uint8_t *)data, len, &n, &s, ids, ends), 0, "scanned");
  CHECK_EQ(s.count, 3000, "a set per distinct value");
  int ok = 1;
  for (int i = 0; i < 5000; i++) ok &= ids[i] == ids[i % 3000] && ids[i] >= 0;
  CHECK(ok, "lines with the same value share its set");
  lf_sets_free(&s);
  free(ids);
  free(ends);
  free(data);
}
