/* The writing half of the C ABI: C wrappers around the Go shims that refuse
 * to enter Go in a child made by fork(). A Go runtime's threads do not exist
 * in such a child; entering Go there hangs. A pthread_atfork handler sets a
 * flag in every child, checked before each call. A process that loads the
 * library after fork() (a fresh load) is not affected. */
#include <pthread.h>
#include <stdlib.h>

#include "sa_write.h"
#include "sa_internal.h"
#include "_cgo_export.h"

static volatile int sa_forked = 0;

static void sa_mark_child(void) { sa_forked = 1; }

__attribute__((constructor)) static void sa_install_fork_handler(void) {
  pthread_atfork(NULL, NULL, sa_mark_child);
}

static int sa_refuse_if_forked(char *err, size_t err_len) {
  if (!sa_forked) return SHMARRAY_OK;
  return sa_fail(SHMARRAY_FORKED, err, err_len,
                 "this process was forked from one that loaded libshmarray, and "
                 "writing needs the Go runtime, which does not survive fork(); "
                 "create segments before forking, or start workers with spawn/exec "
                 "(reading works in forked children)");
}

int shmarray_create(const char *name, const char *dir,
                    const shmarray_create_options *opts,
                    shmarray_builder **out, char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!name || !out)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "name and out must not be NULL");
  shmarray_builder *b = malloc(sizeof *b);
  if (!b) return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  uint32_t mode = opts ? opts->mode : 0, flags = opts ? opts->flags : 0;
  int64_t capacity = opts ? opts->capacity : 0;
  const uint8_t *replace_if = opts ? opts->replace_if : NULL;
  uintptr_t h = 0;
  rc = shmarraygo_create((char *)name, (char *)dir, mode, flags, capacity, (uint8_t *)replace_if, &h,
                         err, err_len);
  if (rc) {
    free(b);
    return rc;
  }
  b->handle = h;
  *out = b;
  return SHMARRAY_OK;
}

int shmarray_builder_add(shmarray_builder *b, const char *name,
                         const shmarray_array_spec *spec, char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!b || !name || !spec)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "builder, name and spec must not be NULL");
  return shmarraygo_builder_add(b->handle, (char *)name, (shmarray_array_spec *)spec, err, err_len);
}

int shmarray_builder_add_list(shmarray_builder *b, const char *name, const shmarray_array_spec *list,
                              const shmarray_array_spec *values, char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!b || !name || !list || !values)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "builder, name, list and values must not be NULL");
  return shmarraygo_builder_add_list(b->handle, (char *)name, (shmarray_array_spec *)list,
                                     (shmarray_array_spec *)values, err, err_len);
}

int shmarray_builder_add_dictionary(shmarray_builder *b, const char *name,
                                    const shmarray_array_spec *indices,
                                    const shmarray_array_spec *values, char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!b || !name || !indices || !values)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "builder, name, indices and values must not be NULL");
  return shmarraygo_builder_add_dictionary(b->handle, (char *)name, (shmarray_array_spec *)indices,
                                           (shmarray_array_spec *)values, err, err_len);
}

int shmarray_builder_add_empty(shmarray_builder *b, const char *name,
                               const shmarray_array_spec *spec, void **data, size_t *size,
                               char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!b || !name || !spec || !data || !size)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "builder, name, spec, data and size must not be NULL");
  *data = NULL;
  *size = 0;
  return shmarraygo_builder_add_empty(b->handle, (char *)name, (shmarray_array_spec *)spec, data,
                                      size, err, err_len);
}

int shmarray_builder_add_arrow(shmarray_builder *b, const char *name,
                               struct ArrowArray *array, struct ArrowSchema *schema,
                               char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (!rc && (!b || !name || !array || !schema || !array->release || !schema->release))
    rc = sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                 "builder, name, array and schema must not be NULL or released");
  if (rc) {
    /* Ownership moved to us: release what we were given, as promised. */
    if (array && array->release) array->release(array);
    if (schema && schema->release) schema->release(schema);
    return rc;
  }
  return shmarraygo_builder_add_arrow(b->handle, (char *)name, array, schema, err, err_len);
}

int shmarray_builder_add_index(shmarray_builder *b, const char *name, char *err,
                               size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!b || !name)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "builder and name must not be NULL");
  return shmarraygo_builder_add_index(b->handle, (char *)name, err, err_len);
}

int shmarray_builder_set_metadata(shmarray_builder *b, const char *const *keys,
                                  const char *const *values, size_t count,
                                  char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!b) return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "builder must not be NULL");
  return shmarraygo_builder_set_metadata(b->handle, (char **)keys, (char **)values, count, err, err_len);
}

int shmarray_builder_publish(shmarray_builder *b, char *err, size_t err_len) {
  return shmarray_builder_publish_with(b, NULL, NULL, err, err_len);
}

int shmarray_builder_publish_with(shmarray_builder *b, shmarray_published *out, int *fd,
                                  char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (!rc && !b) rc = sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "builder must not be NULL");
  shmarray_published p = {{0}, 0};
  int published_fd = -1;
  if (!rc)
    rc = shmarraygo_builder_publish(b->handle, p.id, &p.version, fd ? &published_fd : NULL, err,
                                    err_len);
  if (!rc && out) *out = p;
  if (!rc && fd) *fd = published_fd;
  free(b);
  return rc;
}

int shmarray_builder_output(shmarray_builder *b, const char *name, char *token, size_t token_len,
                            char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!b || !name || !token)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "builder, name and token must not be NULL");
  return shmarraygo_builder_output(b->handle, (char *)name, token, token_len, err, err_len);
}

int shmarray_builder_wait_writers(shmarray_builder *b, int64_t timeout_ms, char *err,
                                  size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!b) return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "builder must not be NULL");
  if (timeout_ms < 0)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len,
                   "timeout_ms is %lld; it must not be negative", (long long)timeout_ms);
  return shmarraygo_builder_wait_writers(b->handle, timeout_ms, err, err_len);
}

void shmarray_builder_discard(shmarray_builder *b) {
  if (!b) return;
  /* In a forked child the Go side cannot run: the unnamed file vanishes
   * with the process anyway, so only the box is freed. */
  if (!sa_forked) shmarraygo_builder_discard(b->handle);
  free(b);
}

int shmarray_receive(const char *name, const char *dir, int64_t size, uint32_t mode,
                     shmarray_receiver **out, char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!name || !out)
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "name and out must not be NULL");
  shmarray_receiver *r = malloc(sizeof *r);
  if (!r) return sa_fail(SHMARRAY_INTERNAL, err, err_len, "out of memory");
  uintptr_t h = 0;
  rc = shmarraygo_receive((char *)name, (char *)dir, size, mode, &h, err, err_len);
  if (rc) {
    free(r);
    return rc;
  }
  r->handle = h;
  *out = r;
  return SHMARRAY_OK;
}

int shmarray_receiver_write(shmarray_receiver *r, int64_t offset, const void *data, size_t len,
                            char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (rc) return rc;
  if (!r || (!data && len))
    return sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "receiver and data must not be NULL");
  return shmarraygo_receiver_write(r->handle, offset, (void *)data, len, err, err_len);
}

int shmarray_receiver_publish(shmarray_receiver *r, char *err, size_t err_len) {
  int rc = sa_refuse_if_forked(err, err_len);
  if (!rc && !r) rc = sa_fail(SHMARRAY_INVALID_ARGUMENT, err, err_len, "receiver must not be NULL");
  if (!rc) rc = shmarraygo_receiver_publish(r->handle, err, err_len);
  free(r);
  return rc;
}

void shmarray_receiver_discard(shmarray_receiver *r) {
  if (!r) return;
  /* In a forked child only the box is freed: the unnamed file vanishes with
   * the process (a fallback hidden name is left for gc). */
  if (!sa_forked) shmarraygo_receiver_discard(r->handle);
  free(r);
}
