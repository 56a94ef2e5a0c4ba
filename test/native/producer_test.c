// The native core's C tests on their own: this file is their TAP harness and runs them, one file per area
// (tests.h lists them): records, drop, block (with threads), tail and file table, writeback, budget, state,
// tokens and flat JSON lines, on the fixture of ring_fixture.c. Plain C and pthreads, linked with
// lib/native/fuse/intake.c, budget.c, tail.c, files.c, writeback.c and state.c, the store's
// lib/store/tokenizer/tokens.c and LogQL's lib/logql/fields/flat.c (no N-API, no libfuse).
// test/native.test.ts builds and runs it under AddressSanitizer + UBSan, and its threaded parts under
// ThreadSanitizer:
//
//   cc -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=address,undefined -pthread -Ilib/native/fuse -Ilib/store/tokenizer
//     -Ilib/logql/fields test/native/*.c lib/native/fuse/{intake,budget,tail,files,writeback,state}.c
//     lib/store/tokenizer/tokens.c lib/logql/fields/flat.c
//   ./a.out [name-prefix...]
//
// Prints TAP (a line per test, "1..N" at the end) and exits 1 when a test failed.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tests.h"

// --- a small TAP harness ---

static int n_tests, n_failed;
static int cur_failed;
static const char *cur_name;

void failf(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  cur_failed++;
  printf("#   FAIL %s:%d (%s): ", file, line, cur_name);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
}

static int selected(int argc, char **argv, const char *name) {
  if (argc < 2) return 1;
  for (int i = 1; i < argc; i++) if (strncmp(name, argv[i], strlen(argv[i])) == 0) return 1;
  return 0;
}

#define RUN(name, fn) \
  do { \
    if (!selected(argc, argv, name)) break; \
    cur_name = name; \
    cur_failed = 0; \
    fn(); \
    n_tests++; \
    if (cur_failed) n_failed++; \
    printf("%s %d - %s\n", cur_failed ? "not ok" : "ok", n_tests, name); \
    fflush(stdout); \
  } while (0)

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("TAP version 14\n");
  RUN("records: round trip with wrap-around and PAD", records_round_trip);
  RUN("records: 16-byte skip, PAD, exact fit", records_skip_and_pad);
  RUN("drop: line cutting, reserve, skipping", drop_line_cutting);
  RUN("drop: a stream in pieces keeps whole lines", drop_stream);
  RUN("drop: the rest of a started line that does not fit", drop_unfinished_rest);
  RUN("block: waiting writers go in ticket order as a consumer frees space", block_ticket_order);
  RUN("block: fail_waiting answers waiting writers with the errno", block_fail_waiting);
  RUN("block: switching to drop lets waiting writers go", block_policy_change);
  RUN("block: a writer waiting when the stop begins still goes in", block_closed_waiter);
  RUN("closed: refuses new lines, lets a started line finish", closed_flag);
  RUN("announce: the flag and on_data", announce_on_data);
  RUN("tail: window, holes, overwrite, truncate", tail_buffer);
  RUN("files: add, get, replace, remove", files_table);
  RUN("writeback: a stop's seal ends each file's stream at a line boundary", writeback_seal);
  RUN("budget: borrowing, a spent pool, waking another tenant's waiter, recount", budget_pool);
  RUN("state: a takeover recovers cursors and unanswered writes", state_takeover);
  RUN("tokens: block tokens, lines and levels per piece", block_tokens);
  RUN("flat: flat JSON lines' fields, and the lines left to the full parser", flat_lines);
  RUN("flat: many distinct sets of values", flat_many_sets);
  printf("1..%d\n", n_tests);
  printf("# %d tests, %d failed\n", n_tests, n_failed);
  if (n_tests == 0) {
    fprintf(stderr, "producer_test: no test matched the arguments\n");
    return 2;
  }
  if (n_failed) {
    fprintf(stderr, "producer_test: %d of %d tests failed (see the FAIL lines above)\n", n_failed, n_tests);
    return 1;
  }
  return 0;
}
