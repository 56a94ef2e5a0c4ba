// Just enough JSON for the agent's messages: finds the fields of a flat object on one line, checking only as much
// as finding each value's end needs.
#include <ctype.h>
#include <string.h>

#include "supervisor.h"

static const char *skip_ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/** The end of the JSON value at p, or NULL if there is none. */
static const char *skip_value(const char *p, const char *e) {
  if (p >= e) return NULL;
  if (*p == '"') {
    for (p++; p < e; p++) {
      if (*p == '\\') p++;
      else if (*p == '"') return p + 1;
    }
    return NULL;
  }
  if (*p == '{' || *p == '[') {
    int depth = 0;
    for (; p < e; p++) {
      if (*p == '"') {
        if ((p = skip_value(p, e)) == NULL) return NULL;
        p--;
      } else if (*p == '{' || *p == '[') {
        depth++;
      } else if ((*p == '}' || *p == ']') && --depth == 0) {
        return p + 1;
      }
    }
    return NULL;
  }
  const char *s = p;
  while (p < e && (isalnum((unsigned char) *p) || *p == '-' || *p == '+' || *p == '.')) p++;
  return p > s ? p : NULL;
}

int sv_json_is_string(const char *token, size_t len, const char *text) {
  size_t n = strlen(text);
  return token != NULL && len == n + 2 && token[0] == '"' && memcmp(token + 1, text, n) == 0 && token[n + 1] == '"';
}

/**
 * The keys are matched unescaped, as JSON.stringify writes them; a key given twice keeps its last value. An empty
 * object, or anything that does not end where the object does, is not one.
 */
int sv_json_fields(const char *line, size_t len, const char *const keys[], size_t n,
  const char *values[], size_t lens[]) {
  const char *e = line + len, *p = skip_ws(line, e);
  for (size_t k = 0; k < n; k++) values[k] = NULL, lens[k] = 0;
  if (p >= e || *p++ != '{') return -1;
  p = skip_ws(p, e);
  if (p < e && *p == '}') return -1;
  for (;;) {
    const char *key = p;
    if (p >= e || *p != '"' || (p = skip_value(p, e)) == NULL) return -1;
    size_t key_len = (size_t) (p - key);
    p = skip_ws(p, e);
    if (p >= e || *p++ != ':') return -1;
    const char *value = p = skip_ws(p, e);
    if ((p = skip_value(p, e)) == NULL) return -1;
    for (size_t k = 0; k < n; k++) {
      if (sv_json_is_string(key, key_len, keys[k])) values[k] = value, lens[k] = (size_t) (p - value);
    }
    p = skip_ws(p, e);
    if (p < e && *p == ',') {
      p = skip_ws(p + 1, e);
      continue;
    }
    if (p < e && *p == '}' && skip_ws(p + 1, e) == e) return 0;
    return -1;
  }
}
