/* The C writer runner of the conformance suite (conformance/README.md).
 *
 *   writer DIR INPUT.txt...
 *
 * Each input is a case in the text form of conformance/cinput.go (made from
 * the case's JSON by `runner cinput`): the segment's name and metadata, and
 * for each array the fields of shmarray_array_spec and its raw buffers. The
 * segment is written through the C ABI (shmarray_create,
 * shmarray_builder_add, shmarray_builder_add_list and _add_dictionary for
 * lists and dictionaries of plain values, shmarray_builder_set_metadata,
 * shmarray_builder_publish) into DIR. Prints one line per input:
 * "ok NAME" or "error NAME CODE message". Plain C99 against shmarray.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmarray.h"

#define MAX_META 64

typedef struct {
  size_t n;
  char *keys[MAX_META], *values[MAX_META];
} meta_list;

/* A decoded "x<hex>" token (NUL-terminated, *len bytes), NULL for "-". */
static char *unhex(const char *tok, size_t *len) {
  if (strcmp(tok, "-") == 0) {
    *len = 0;
    return NULL;
  }
  if (tok[0] != 'x') return NULL;
  size_t n = strlen(tok + 1) / 2;
  char *out = malloc(n + 1);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(tok + 1 + 2 * i, "%2x", &v) != 1) {
      free(out);
      return NULL;
    }
    out[i] = (char)v;
  }
  out[n] = '\0';
  *len = n;
  return out;
}

static void free_meta(meta_list *m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->keys[i]);
    free(m->values[i]);
  }
  m->n = 0;
}

/* The next space-separated token of a line, "" when there is none. */
static char *next(char **save) {
  char *t = strtok_r(NULL, " \n", save);
  return t ? t : "";
}

/* Reads `count` "metadata x<key> x<value>" lines into m. */
static int read_meta(FILE *f, char **line, size_t *cap, size_t count, meta_list *m) {
  if (count > MAX_META) return -1;
  for (size_t i = 0; i < count; i++) {
    if (getline(line, cap, f) < 0) return -1;
    char *save, *tag = strtok_r(*line, " \n", &save);
    char *k = strtok_r(NULL, " \n", &save), *v = strtok_r(NULL, " \n", &save);
    size_t kl, vl;
    if (!tag || strcmp(tag, "metadata") || !k || !v) return -1;
    m->keys[i] = unhex(k, &kl);
    m->values[i] = unhex(v, &vl);
    m->n = i + 1;
    if (!m->keys[i] || !m->values[i]) return -1;
  }
  return 0;
}

/* "<tag> -|x<hex>" into a malloc'ed buffer (NULL for "-"). */
static int read_buffer(FILE *f, char **line, size_t *cap, const char *want, char **out) {
  if (getline(line, cap, f) < 0) return -1;
  char *save, *tag = strtok_r(*line, " \n", &save), *val = strtok_r(NULL, " \n", &save);
  size_t n;
  if (!tag || strcmp(tag, want) || !val) return -1;
  *out = unhex(val, &n);
  if (!*out && strcmp(val, "-")) return -1;
  return 0;
}

/* One "array" block of the input: its spec and the buffers it points to. */
typedef struct {
  char *name, *tz, *validity, *offsets, *data;
  int64_t shape[SHMARRAY_MAX_NDIM];
  meta_list meta;
  shmarray_array_spec spec;
} array_in;

static void free_array(array_in *a) {
  free(a->name);
  free(a->tz);
  free(a->validity);
  free(a->offsets);
  free(a->data);
  free_meta(&a->meta);
  memset(a, 0, sizeof *a);
}

/* Reads the block whose "array ..." line is in *line:
 * array x<name> type unit width x<tz> ndim shape... nmeta, then its metadata
 * and buffers. 0, or -1 on malformed input (a is freed by the caller). */
static int read_array(FILE *f, char **line, size_t *cap, array_in *a) {
  char *save, *tok = strtok_r(*line, " \n", &save);
  if (!tok || strcmp(tok, "array")) return -1;
  size_t l;
  a->name = unhex(next(&save), &l);
  a->spec.type = (uint32_t)strtoul(next(&save), NULL, 10);
  a->spec.time_unit = (uint32_t)strtoul(next(&save), NULL, 10);
  a->spec.byte_width = (uint32_t)strtoul(next(&save), NULL, 10);
  a->tz = unhex(next(&save), &l);
  a->spec.timezone = a->tz;
  a->spec.ndim = (uint32_t)strtoul(next(&save), NULL, 10);
  if (!a->name || !a->tz || a->spec.ndim < 1 || a->spec.ndim > SHMARRAY_MAX_NDIM) return -1;
  for (uint32_t k = 0; k < a->spec.ndim; k++) a->shape[k] = strtoll(next(&save), NULL, 10);
  unsigned long nmeta = strtoul(next(&save), NULL, 10);
  a->spec.length = a->shape[0];
  if (a->spec.ndim > 1) a->spec.shape = a->shape;
  if (read_meta(f, line, cap, nmeta, &a->meta) || read_buffer(f, line, cap, "validity", &a->validity) ||
      read_buffer(f, line, cap, "offsets", &a->offsets) || read_buffer(f, line, cap, "data", &a->data))
    return -1;
  a->spec.validity = (const uint8_t *)a->validity;
  a->spec.offsets = a->offsets;
  a->spec.data = a->data;
  a->spec.metadata_keys = (const char *const *)a->meta.keys;
  a->spec.metadata_values = (const char *const *)a->meta.values;
  a->spec.metadata_count = a->meta.n;
  return 0;
}

/* Writes the segment described by one input file; prints the outcome. A
 * "nested list" or "nested dictionary" line is followed by two blocks, the
 * column's (for a dictionary: its indices) and its values', written with
 * shmarray_builder_add_list / shmarray_builder_add_dictionary. */
static int write_case(const char *dir, const char *path) {
  char err[512] = "";
  FILE *f = fopen(path, "r");
  if (!f) {
    printf("error %s IO_ERROR cannot open the input\n", path);
    return 1;
  }
  char *line = NULL, *name = NULL;
  size_t cap = 0, len;
  meta_list seg_meta = {0};
  shmarray_builder *b = NULL;
  int rc = SHMARRAY_INTERNAL, bad_input = 1;
  unsigned long nmeta;
  char hexname[512];
  if (getline(&line, &cap, f) >= 0 && strncmp(line, "n/a ", 4) == 0) { /* a case this API cannot write */
    fputs(line, stdout);
    fflush(stdout);
    free(line);
    fclose(f);
    return 0;
  }
  rewind(f);
  if (getline(&line, &cap, f) < 0 || sscanf(line, "segment %511s %lu", hexname, &nmeta) != 2 ||
      !(name = unhex(hexname, &len)) || read_meta(f, &line, &cap, nmeta, &seg_meta))
    goto done;
  rc = shmarray_create(name, dir, NULL, &b, err, sizeof err);
  if (rc) goto done;
  for (;;) {
    if (getline(&line, &cap, f) < 0) goto done;
    if (strncmp(line, "end", 3) == 0) break;
    int nested = strncmp(line, "nested list", 11) == 0 ? 1 : strncmp(line, "nested dictionary", 17) == 0 ? 2 : 0;
    if (nested && getline(&line, &cap, f) < 0) goto done;
    array_in a, v;
    memset(&a, 0, sizeof a);
    memset(&v, 0, sizeof v);
    int ok = !read_array(f, &line, &cap, &a);
    if (ok && nested) ok = getline(&line, &cap, f) >= 0 && !read_array(f, &line, &cap, &v);
    if (ok) {
      if (nested == 1)
        rc = shmarray_builder_add_list(b, a.name, &a.spec, &v.spec, err, sizeof err);
      else if (nested == 2)
        rc = shmarray_builder_add_dictionary(b, a.name, &a.spec, &v.spec, err, sizeof err);
      else
        rc = shmarray_builder_add(b, a.name, &a.spec, err, sizeof err);
    }
    free_array(&a);
    free_array(&v);
    if (!ok) {
      rc = SHMARRAY_INTERNAL;
      err[0] = '\0';
      goto done;
    }
    if (rc) goto done;
  }
  if (seg_meta.n) {
    rc = shmarray_builder_set_metadata(b, (const char *const *)seg_meta.keys,
                                       (const char *const *)seg_meta.values, seg_meta.n, err, sizeof err);
    if (rc) goto done;
  }
  rc = shmarray_builder_publish(b, err, sizeof err);
  b = NULL; /* publish frees the builder in every case */
  bad_input = 0;
done:
  if (b) shmarray_builder_discard(b);
  if (rc == SHMARRAY_OK && !bad_input)
    printf("ok %s\n", name);
  else if (rc != SHMARRAY_OK && err[0])
    printf("error %s %s %s\n", name ? name : path, shmarray_error_name(rc), err);
  else
    printf("error %s INTERNAL malformed input file %s\n", name ? name : path, path);
  fflush(stdout);
  free(line);
  free(name);
  free_meta(&seg_meta);
  fclose(f);
  return rc != SHMARRAY_OK || bad_input;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: writer DIR INPUT.txt...\n", stderr);
    return 2;
  }
  int failed = 0;
  for (int i = 2; i < argc; i++) failed |= write_case(argv[1], argv[i]);
  return failed;
}
