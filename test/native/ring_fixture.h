// A ring as JavaScript has it (data, control block, and the reader side of lib/ring/records.ts), shared by the C
// tests that write through the producer (ring_fixture.c).
#ifndef LOGFS_TEST_RING_FIXTURE_H
#define LOGFS_TEST_RING_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "intake.h"

typedef struct ring {
  uint8_t *data;
  uint64_t cap;
  int64_t ctl[LF_CONTROL_BYTES / 8];
  lf_tenant t;
} ring;

typedef struct rec {
  uint64_t pos;
  uint32_t source;
  double offset, ts;
  uint8_t *data; /* a copy */
  uint32_t len;
} rec;

typedef struct recs {
  rec *v;
  size_t n, cap;
  size_t pads, skips;
} recs;

/** Open, no on_data. */
extern lf_intake no_intake;

ring *ring_new(uint64_t cap, int policy);
void ring_free(ring *r);
uint64_t ring_head(ring *r);
uint64_t ring_tail(ring *r);
void ring_release(ring *r, uint64_t pos);
double ring_stat(ring *r, int which);
uint64_t align8(uint64_t n);
uint64_t next_record(const ring *r, uint64_t pos);
void recs_clear(recs *rs);
int read_records(ring *r, uint64_t start, uint64_t end, recs *out);
uint8_t pattern(uint64_t o);
void fill_pattern(uint8_t *buf, uint64_t from, size_t n);
uint64_t count_nl(const uint8_t *b, size_t n);
lf_source source_of(ring *r, uint32_t id);

#endif
