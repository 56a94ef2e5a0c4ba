// The C tests producer_test.c runs, by the file that holds them.
#ifndef LOGFS_TEST_TESTS_H
#define LOGFS_TEST_TESTS_H

/* records_test.c: records in the ring, as JavaScript reads them. */
void records_round_trip(void);
void records_skip_and_pad(void);
/* drop_test.c: the drop policy. */
void drop_line_cutting(void);
void drop_stream(void);
void drop_unfinished_rest(void);
/* block_test.c: the block policy with threads, the closed flag, announcements. */
void block_ticket_order(void);
void block_fail_waiting(void);
void block_policy_change(void);
void block_closed_waiter(void);
void closed_flag(void);
void announce_on_data(void);
/* tail_test.c: a file's tail buffer and the file table. */
void tail_buffer(void);
void files_table(void);
/* writeback_test.c: a stop's seal on writeback requests. */
void writeback_seal(void);
/* budget_test.c: the ring budget tenants share. */
void budget_pool(void);
/* state_test.c: the state a restarted agent takes over. */
void state_takeover(void);
/* tokens_test.c: the store's block tokenizer. */
void block_tokens(void);
/* flat_test.c: the json fast path of LogQL's scan workers. */
void flat_lines(void);
void flat_many_sets(void);

#endif
