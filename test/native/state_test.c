// The state a restarted agent takes over (state.c): refusing a foreign state, recovering cursors and unanswered
// writes, the namespace journal and its snapshots, and a file's tail kept in its slot. Run by producer_test.c.
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "files.h"
#include "intake.h"
#include "state.h"
#include "tests.h"

/** A memfd holding a state header with this magic, version and total size, as another build could leave it. */
static int foreign_state(const char *magic, uint32_t version, uint64_t total) {
  int fd = memfd_create("logfs-state-test", MFD_CLOEXEC);
  CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
  if (fd < 0) return -1;
  uint8_t page[4096] = { 0 };
  lf_state_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, magic, sizeof h.magic);
  h.version = version;
  h.total_bytes = total;
  h.memory = 1 << 20;
  memcpy(page, &h, sizeof h);
  CHECK(write(fd, page, sizeof page) == (ssize_t) sizeof page, "write the header");
  CHECK_EQ(ftruncate(fd, 1 << 20), 0, "ftruncate");
  return fd;
}

/** lf_state_open on a state it must refuse: -1, an error naming `why`, and nothing opened. */
static void refused(int fd, const char *why, const char *what) {
  char err[256] = "";
  CHECK_EQ(lf_state_open(fd, 64 << 20, 4096, err, sizeof err), -1, what);
  CHECK(strstr(err, why) != NULL, "%s: the error \"%s\" says %s", what, err, why);
  CHECK(lf_state() == NULL, "%s: nothing is mapped", what);
  if (fd >= 0) close(fd);
}

void state_takeover(void) {
  // The refusals first: lf_state_open maps a state once per process, and a refused one leaves nothing open.
  refused(foreign_state("logfs-st", 999, 1 << 20), "version", "another version");
  refused(foreign_state("notlogfs", LF_STATE_VERSION, 1 << 20), "not a logfs state", "another magic");
  refused(foreign_state("logfs-st", LF_STATE_VERSION, 12345), "layout", "a size its layout does not give");

  char err[256] = "";
  CHECK_EQ(lf_state_open(-1, 64 << 20, 4096, err, sizeof err), LF_STATE_FRESH, "a private memfd is a fresh state");
  if (lf_state() == NULL) {
    failf(__FILE__, __LINE__, "lf_state_open: %s", err);
    return;
  }
  CHECK_EQ(lf_state_open(-1, 64 << 20, 4096, err, sizeof err), -1, "a second open");
  CHECK(strstr(err, "already open") != NULL, "the error \"%s\" says so", err);
  CHECK_EQ(lf_state()->version, LF_STATE_VERSION, "version");
  CHECK_MEM(lf_state()->magic, "logfs-st", 8, "magic");

  int64_t *ctl = NULL;
  uint8_t *data = NULL;
  CHECK(lf_state_tenant_new("t", 1 << 20, 1 << 20, LF_BLOCK, &ctl, &data) != NULL, "a tenant's ring");
  if (ctl == NULL) return;
  int64_t *ctl2 = NULL;
  uint8_t *data2 = NULL;
  lf_tenant_rec *tr = lf_state_tenant(0, &ctl2, &data2);
  CHECK(tr != NULL && ctl2 == ctl && data2 == data, "found again by its index");
  CHECK(tr != NULL && strcmp(tr->name, "t") == 0 && tr->capacity == 1 << 20, "with its name and capacity");
  lf_tenant t;
  lf_tenant_init(&t, data, 1 << 20, ctl, LF_BLOCK);
  lf_source_rec *rec = lf_state_source_new(0, "t/a.log", 7);
  CHECK(rec != NULL, "a source");
  if (rec == NULL) { lf_tenant_destroy(&t); return; }
  CHECK(lf_state_source(rec->s.id) == rec, "found again by its id");
  CHECK_MEM(lf_state_source_path(rec), "t/a.log", 7, "its path");
  CHECK_EQ(rec->s.line_ended, 1, "a new source is at a line boundary");
  rec->s.tenant = &t;
  lf_intake ix = { 0 };

  // A: killed after the record was published but before the cursor moved.
  lf_intent *w = lf_state_intent(0);
  w->unique = 42;
  w->source = rec->s.id;
  w->cursor = LF_NO_CURSOR;
  w->armed = 1;
  lf_intake_mark = &w->cursor;
  CHECK_EQ(lf_intake_write(&ix, &rec->s, (const uint8_t *) "hello\n", 6, 0), 0, "write");
  lf_intake_mark = NULL;
  CHECK_EQ(w->cursor, 0, "the intent got the cursor the bytes start at");
  CHECK_EQ(ctl[LF_CTL_HEAD], 32, "the record is published");
  CHECK_EQ(ctl[LF_CTL_ANNOUNCED], 1, "and announced");
  rec->s.next = 0;
  rec->s.line_ended = 0;

  // B: taken but never put in.
  lf_intent *w2 = lf_state_intent(1);
  w2->unique = 43;
  w2->source = rec->s.id;
  w2->cursor = LF_NO_CURSOR;
  w2->armed = 1;

  t.stats[LF_ST_WAITING] = 3;
  t.stats[LF_ST_WAITING_BYTES] = 300;
  lf_tenant *ts[1] = { &t };
  lf_state_recover(ts, 1);
  CHECK_EQ(rec->s.next, 6, "the cursor moved past the record the ring holds");
  CHECK_EQ(rec->s.line_ended, 1, "which ended a line");
  CHECK_EQ(lf_state_resend_done(42), 1, "A's resent request is answered without taking its bytes again");
  CHECK_EQ(lf_state_resend_done(42), 0, "once only");
  CHECK_EQ(lf_state_resend_done(43), 0, "B's resent request is taken as new");
  CHECK_EQ(lf_state_resend_done(0), 0, "request id 0 never matches");
  CHECK_EQ(lf_state_intent(0)->armed, 0, "A's intent is disarmed");
  CHECK_EQ(lf_state_intent(1)->armed, 0, "B's intent is disarmed");
  CHECK_EQ(ctl[LF_CTL_ANNOUNCED], 0, "the announced flag is cleared");
  CHECK_EQ(t.stats[LF_ST_WAITING], 0, "the dead agent's waiting writers are not counted");
  CHECK_EQ(t.stats[LF_ST_WAITING_BYTES], 0, "nor their bytes");
  CHECK_EQ(ctl[LF_CTL_HEAD], 32, "the ring is left as it was");
  // A cursor already past the records stays where it is, and a second recovery finds nothing to answer.
  rec->s.next = 10;
  lf_state_recover(ts, 1);
  CHECK_EQ(rec->s.next, 10, "a cursor never moves back");
  CHECK_EQ(lf_state_resend_done(42), 0, "nothing to answer after a recovery with no armed intent");
  lf_tenant_destroy(&t);

  // The namespace: a journal of u32-length-prefixed records after the live snapshot, switched by a new snapshot.
  const uint8_t *snap, *journal;
  uint64_t snap_len, journal_len;
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK(snap_len == 0 && journal_len == 0, "a fresh state has an empty namespace");
  CHECK_EQ(lf_state_meta_append((const uint8_t *) "abc", 3), 0, "append");
  CHECK_EQ(lf_state_meta_append((const uint8_t *) "hello", 5), 0, "append");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK_EQ(snap_len, 0, "no snapshot yet");
  CHECK_EQ(journal_len, (4 + 3) + (4 + 5), "the journal: two records with their lengths");
  if (journal_len == 16) CHECK_MEM(journal, "\3\0\0\0abc\5\0\0\0hello", 16, "journal bytes");
  CHECK_EQ(lf_state_meta_snapshot((const uint8_t *) "SNAPSHOT", 8), 0, "snapshot");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK_EQ(snap_len, 8, "the snapshot is live");
  CHECK_MEM(snap, "SNAPSHOT", 8, "snapshot bytes");
  CHECK_EQ(journal_len, 0, "with an empty journal");
  CHECK_EQ(lf_state()->meta_live, 1, "in the other slot");
  CHECK_EQ(lf_state_meta_append((const uint8_t *) "x", 1), 0, "append after the snapshot");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK(journal == snap + 8 && journal_len == 5, "the journal follows the snapshot");
  CHECK_MEM(journal, "\1\0\0\0x", 5, "journal bytes");
  CHECK_EQ(lf_state_meta_snapshot((const uint8_t *) "S2", 2), 0, "another snapshot");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK(lf_state()->meta_live == 0 && snap_len == 2 && journal_len == 0,
    "back in the first slot, whose old journal is gone");
  CHECK_EQ(lf_state_meta_snapshot(snap, LF_META_BYTES), -1, "a snapshot larger than a slot is refused");
  lf_state_meta(&snap, &snap_len, &journal, &journal_len);
  CHECK(lf_state()->meta_live == 0 && snap_len == 2, "and leaves the live one as it was");

  // A file's tail lives in its slot of the state: the next agent reads back what the dead one held.
  uint64_t cap = lf_state()->tail_cap;
  CHECK_EQ(cap, 4096, "tails are whole pages");
  CHECK_EQ(lf_files_add(77, NULL, cap, lf_state_file(3), 0, lf_state_tail(3)), 0, "a file in slot 3");
  lf_file *f = lf_files_get(77);
  for (int i = 0; i < 700; i++) lf_file_write(f, (uint64_t) i * 10, (const uint8_t *) "line %03d\n", 10, 5.0);
  CHECK(lf_state_file(3)->size == 7000 && lf_state_file(3)->low == 7000 - 4096, "size and window mirrored");
  CHECK_EQ(lf_files_add(78, NULL, cap, lf_state_file(3), 1, lf_state_tail(3)), 0, "taken back as another agent would");
  char back[20] = { 0 };
  CHECK_EQ(lf_file_read(lf_files_get(78), 6980, (uint8_t *) back, 20), 20, "its last bytes");
  CHECK_MEM(back, "line %03d\nline %03d\n", 20, "read back as written");
  CHECK_EQ(lf_file_read(lf_files_get(78), 0, (uint8_t *) back, 10), 10, "below the window");
  CHECK_MEM(back, "\0\0\0\0\0\0\0\0\0\0", 10, "zeros, as before");
  lf_files_remove(78);
  CHECK(lf_state_tail(3)[6990 % cap] == 0, "a removed file's pages go back: the next file in the slot finds zeros");
}
