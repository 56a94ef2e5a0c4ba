// The checks of the native core's C tests (producer_test.c runs them all and prints TAP): a failed check prints a
// FAIL line and fails the test it is in.
#ifndef LOGFS_TEST_CHECK_H
#define LOGFS_TEST_CHECK_H

#include <string.h>

void failf(const char *file, int line, const char *fmt, ...);

#define CHECK(cond, ...) \
  do { if (!(cond)) failf(__FILE__, __LINE__, "not " #cond ": " __VA_ARGS__); } while (0)
#define CHECK_EQ(a, b, what) \
  do { \
    long double a_ = (long double) (a), b_ = (long double) (b); \
    if (a_ != b_) failf(__FILE__, __LINE__, "%s: got %.17Lg, want %.17Lg (%s == %s)", what, a_, b_, #a, #b); \
  } while (0)
#define CHECK_MEM(got, want, n, what) \
  do { if (memcmp((got), (want), (n)) != 0) failf(__FILE__, __LINE__, "%s: bytes differ", what); } while (0)

#endif
