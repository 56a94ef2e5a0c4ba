// The tokenizer's N-API surface: one function, blockTokens, which lib/store/tokenizer.ts types. An addon of its
// own, apart from the agent's FUSE core, so the server's index worker loads neither libfuse nor the agent's C.
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdlib.h>
#include <string.h>

#include "tokens.h"

static napi_value throw_msg(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* blockTokens(data, pieces: Int32Array of (start, skip, end, limit)…, levelHashes: Uint32Array, levelOf: Uint8Array)
 * → { hashes: Uint32Array, stats: Uint32Array of (newlines, lines per level × 6) per piece } (tokens.h). */
static napi_value js_block_tokens(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  void *data = NULL, *pieces = NULL, *level_hashes = NULL, *level_of = NULL;
  size_t data_len = 0, n_pieces = 0, n_levels = 0, n_of = 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4 || napi_get_typedarray_info(env, argv[0], &type, &data_len, &data, &ab, &off) != napi_ok ||
      type != napi_uint8_array ||
      napi_get_typedarray_info(env, argv[1], &type, &n_pieces, &pieces, &ab, &off) != napi_ok ||
      type != napi_int32_array || n_pieces % 4 != 0 ||
      napi_get_typedarray_info(env, argv[2], &type, &n_levels, &level_hashes, &ab, &off) != napi_ok ||
      type != napi_uint32_array ||
      napi_get_typedarray_info(env, argv[3], &type, &n_of, &level_of, &ab, &off) != napi_ok ||
      type != napi_uint8_array || n_of != n_levels) {
    return throw_msg(env, "blockTokens: expected (Uint8Array, Int32Array, Uint32Array, Uint8Array)");
  }
  const struct lf_piece *ps = pieces;
  for (size_t p = 0; p < n_pieces / 4; p++) {
    if (ps[p].start < 0 || ps[p].skip < ps[p].start || ps[p].end < ps[p].skip || ps[p].limit < ps[p].end ||
        (size_t)ps[p].limit > data_len) {
      return throw_msg(env, "blockTokens: a piece lies outside the data");
    }
  }
  for (size_t l = 0; l < n_levels; l++) {
    if (((uint8_t *)level_of)[l] >= LF_LEVELS) return throw_msg(env, "blockTokens: level out of range");
  }
  uint32_t *hashes = NULL;
  void *stats;
  napi_value stats_buffer, stats_array;
  napi_create_arraybuffer(env, n_pieces / 4 * LF_PIECE_STATS * sizeof(uint32_t), &stats, &stats_buffer);
  int64_t n = lf_block_tokens(data, ps, n_pieces / 4, level_hashes, level_of, n_levels, &hashes, stats);
  if (n < 0) return throw_msg(env, "blockTokens: out of memory");
  void *copy;
  napi_value buffer, array, result;
  napi_create_arraybuffer(env, (size_t)n * sizeof *hashes, &copy, &buffer);
  memcpy(copy, hashes, (size_t)n * sizeof *hashes);
  free(hashes);
  napi_create_typedarray(env, napi_uint32_array, (size_t)n, buffer, 0, &array);
  napi_create_typedarray(env, napi_uint32_array, n_pieces / 4 * LF_PIECE_STATS, stats_buffer, 0, &stats_array);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "hashes", array);
  napi_set_named_property(env, result, "stats", stats_array);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "blockTokens", NULL, js_block_tokens, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  /* The token rules lib/store/tokens.ts states too (it hashes query tokens where no addon is built):
   * test/contract.test.ts compares them, and the hashes of both sides on the same bytes. */
  const struct { const char *name; double value; } c[] = {
    { "MIN_TOKEN", LF_MIN_TOKEN }, { "MAX_TOKEN", LF_MAX_TOKEN }, { "LEVELS", LF_LEVELS },
  };
  napi_value constants, v;
  napi_create_object(env, &constants);
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    napi_create_double(env, c[i].value, &v);
    napi_set_named_property(env, constants, c[i].name, v);
  }
  napi_set_named_property(env, exports, "constants", constants);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
