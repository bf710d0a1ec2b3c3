/* DLPack export of one fixed-width numeric array: a "dltensor_versioned"
 * capsule (DLPack 1.0) over the mapped pages, flagged read-only (the
 * mapping is PROT_READ: a consumer that wrote would fault). The managed
 * tensor holds its own reference to the segment, dropped by its deleter,
 * which the consumer calls when it is done with the memory (from any
 * thread), or the capsule's destructor when no consumer took it: so the
 * pages stay mapped as long as the tensor lives, whether or not the Segment
 * was closed. Only DLPack 1.0 is produced: the legacy capsule ("dltensor")
 * has no read-only flag, and a consumer of it would take the pages for
 * writable. Which arrays qualify (no nulls, a numeric type) is the caller's
 * check for the message; this file checks it again for the memory. */
#include <stdlib.h>

#include "dlpack.h"
#include "native.h"

#define CAPSULE_NAME "dltensor_versioned"

/* Stands in for the data of an empty array (a NULL data pointer puzzles
 * some consumers). */
static const int64_t empty_data[8] __attribute__((aligned(64)));

typedef struct {
  sa_dl_managed_versioned tensor;
  shmarray_segment *seg; /* own reference */
  int64_t shape[SHMARRAY_MAX_NDIM];
  int64_t strides[SHMARRAY_MAX_NDIM];
} export_ctx;

static void deleter(sa_dl_managed_versioned *t) {
  export_ctx *c = t->manager_ctx;
  sa_segment_unref(c->seg);
  free(c);
}

/* A capsule no consumer renamed ("used_dltensor_versioned") still owns its tensor. */
static void capsule_destructor(PyObject *cap) {
  if (!PyCapsule_IsValid(cap, CAPSULE_NAME)) return;
  sa_dl_managed_versioned *t = PyCapsule_GetPointer(cap, CAPSULE_NAME);
  if (t && t->deleter) t->deleter(t);
}

/* The DLPack element type of each numeric type code (spec §6: int8 = 2 ...
 * float64 = 12); 0 bits for the others. */
static const sa_dl_dtype dl_types[SHMARRAY_TYPE_FLOAT64 + 1] = {
    [SHMARRAY_TYPE_INT8] = {SA_DL_INT, 8, 1},      [SHMARRAY_TYPE_UINT8] = {SA_DL_UINT, 8, 1},
    [SHMARRAY_TYPE_INT16] = {SA_DL_INT, 16, 1},    [SHMARRAY_TYPE_UINT16] = {SA_DL_UINT, 16, 1},
    [SHMARRAY_TYPE_INT32] = {SA_DL_INT, 32, 1},    [SHMARRAY_TYPE_UINT32] = {SA_DL_UINT, 32, 1},
    [SHMARRAY_TYPE_INT64] = {SA_DL_INT, 64, 1},    [SHMARRAY_TYPE_UINT64] = {SA_DL_UINT, 64, 1},
    [SHMARRAY_TYPE_FLOAT16] = {SA_DL_FLOAT, 16, 1}, [SHMARRAY_TYPE_FLOAT32] = {SA_DL_FLOAT, 32, 1},
    [SHMARRAY_TYPE_FLOAT64] = {SA_DL_FLOAT, 64, 1},
};

/* dlpack(handle, i) -> a dltensor_versioned capsule of array i. */
static PyObject *dlpack(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *h, *i_obj;
  if (!PyArg_ParseTuple(args, "O!O:dlpack", Handle_Type, &h, &i_obj)) return NULL;
  shmarray_segment *seg = native_segment((HandleObject *)h);
  if (!seg) return NULL;
  Py_ssize_t i = native_array_index(seg, i_obj);
  if (i < 0) return NULL;
  const sa_array *a = &seg->arrays[i];
  sa_dl_dtype dt = a->type <= SHMARRAY_TYPE_FLOAT64 ? dl_types[a->type] : dl_types[0];
  if (dt.bits == 0 || a->null_count != 0)
    return native_raisef(SHMARRAY_INVALID_ARGUMENT, "array %d is not numeric without nulls: no DLPack export",
                         (int)i);
  export_ctx *c = calloc(1, sizeof *c);
  if (!c) return PyErr_NoMemory();
  int ndim = a->ndim < 1 ? 1 : a->ndim;
  c->shape[0] = a->length;
  for (int k = 1; k < ndim; k++) c->shape[k] = a->shape[k];
  int64_t stride = 1; /* row-major, in elements */
  for (int k = ndim - 1; k >= 0; k--) {
    c->strides[k] = stride;
    stride *= c->shape[k] ? c->shape[k] : 1;
  }
  sa_dl_managed_versioned *t = &c->tensor;
  t->version.major = SA_DLPACK_MAJOR;
  t->version.minor = SA_DLPACK_MINOR;
  t->manager_ctx = c;
  t->deleter = deleter;
  t->flags = SA_DLPACK_FLAG_READ_ONLY;
  /* The core checked at attach that data_off + data_len lies in the mapping
   * and that data_len holds length * row_elems elements of the type. */
  t->dl_tensor.data = a->data_len ? (void *)(seg->base + a->data_off) : (void *)empty_data;
  t->dl_tensor.device.device_type = SA_DL_CPU;
  t->dl_tensor.device.device_id = 0;
  t->dl_tensor.ndim = ndim;
  t->dl_tensor.dtype = dt;
  t->dl_tensor.shape = c->shape;
  t->dl_tensor.strides = c->strides;
  t->dl_tensor.byte_offset = 0;
  sa_segment_ref(seg);
  c->seg = seg;
  PyObject *cap = PyCapsule_New(t, CAPSULE_NAME, capsule_destructor);
  if (!cap) deleter(t);
  return cap;
}

static PyMethodDef functions[] = {
    {"dlpack", dlpack, METH_VARARGS,
     "dlpack(handle, i) -> a DLPack 1.0 \"dltensor_versioned\" capsule of array i, read-only,\n"
     "holding the mapping until its deleter runs. Numeric arrays without nulls only."},
    {NULL, NULL, 0, NULL},
};

int native_dlpack_init(PyObject *m) { return PyModule_AddFunctions(m, functions); }
