/* shmarray._native.Handle: one attached segment (shmarray_attach), its
 * directory, its mapping as a buffer (the Mapping exporter), full
 * validation, and the Arrow C Data / C Stream exports as PyCapsules (the
 * Arrow PyCapsule Interface). */
#include <stdlib.h>
#include <string.h>

#include "native.h"

PyTypeObject *Handle_Type;

shmarray_segment *native_segment(HandleObject *h) {
  if (h->closed) {
    native_raisef(SHMARRAY_CLOSED, "segment \"%U\" was closed", h->name);
    return NULL;
  }
  return h->seg;
}

shmarray_segment *native_directory(HandleObject *h) { return h->seg; }

Py_ssize_t native_array_index(shmarray_segment *seg, PyObject *obj) {
  Py_ssize_t i = PyLong_AsSsize_t(obj);
  if (i == -1 && PyErr_Occurred()) return -1;
  if (i < 0 || (size_t)i >= seg->h.array_count) {
    PyErr_Format(PyExc_IndexError, "array index %zd out of range (%u arrays)", i, seg->h.array_count);
    return -1;
  }
  return i;
}

/* A str of the core's UTF-8 (validated by attach). */
static PyObject *text(const char *s, size_t n) { return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "strict"); }

/* ---- attach ---------------------------------------------------------------- */

/* The trusted owners of attach(owners=...): None (no check) or a sequence
 * of uids, into a malloc'ed array (*count entries; NULL and 0 for None). */
static int owners_arg(PyObject *obj, uint32_t **out, size_t *count) {
  *out = NULL;
  *count = 0;
  if (obj == Py_None) return 0;
  int is_text = PyUnicode_Check(obj) || PyBytes_Check(obj);
  Py_ssize_t n = !is_text && PySequence_Check(obj) ? PySequence_Size(obj) : -1;
  if (n < 0) {
    PyErr_Clear();
    native_raisef(SHMARRAY_INVALID_ARGUMENT, "owners must be a sequence of uids or None, not %R",
                  obj);
    return -1;
  }
  uint32_t *uids = malloc((n ? (size_t)n : 1) * sizeof *uids);
  if (!uids) {
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PySequence_GetItem(obj, i);
    if (!item) {
      free(uids);
      return -1;
    }
    unsigned long v = PyLong_Check(item) ? PyLong_AsUnsignedLong(item) : (unsigned long)-1;
    if (!PyLong_Check(item) || (v == (unsigned long)-1 && PyErr_Occurred()) || v > UINT32_MAX) {
      PyErr_Clear();
      native_raisef(SHMARRAY_INVALID_ARGUMENT, "owner %R is not a uid (an int from 0 to 2^32 - 1)",
                    item);
      Py_DECREF(item);
      free(uids);
      return -1;
    }
    Py_DECREF(item);
    uids[i] = (uint32_t)v;
  }
  *out = uids;
  *count = (size_t)n;
  return 0;
}

static PyObject *handle_new(shmarray_segment *seg, PyObject *name_obj);

/* The pin of attach(pin=...): None, or (id: 16 bytes, version: int). */
static int pin_arg(PyObject *obj, shmarray_attach_options *opts, uint8_t id[SA_ID_LEN]) {
  if (obj == Py_None) return 0;
  const char *p = NULL;
  Py_ssize_t n = 0;
  unsigned long long v = 0;
  PyObject *idb = NULL, *ver = NULL;
  if (PyTuple_Check(obj) && PyTuple_Size(obj) == 2) {
    idb = PyTuple_GetItem(obj, 0);
    ver = PyTuple_GetItem(obj, 1);
  }
  if (idb && PyBytes_Check(idb) && PyBytes_AsStringAndSize(idb, (char **)&p, &n) == 0 &&
      n == SA_ID_LEN && PyLong_Check(ver)) {
    v = PyLong_AsUnsignedLongLong(ver);
    if (!(v == (unsigned long long)-1 && PyErr_Occurred())) {
      memcpy(id, p, SA_ID_LEN);
      opts->pin_id = id;
      opts->pin_version = (uint64_t)v;
      return 0;
    }
  }
  PyErr_Clear();
  native_raisef(SHMARRAY_INVALID_ARGUMENT, "pin must be None or (16-byte id, version), not %R", obj);
  return -1;
}

static PyObject *native_attach(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *name_obj, *dir_obj = Py_None, *owners_obj = Py_None, *pin_obj = Py_None;
  if (!PyArg_ParseTuple(args, "O|OOO:attach", &name_obj, &dir_obj, &owners_obj, &pin_obj))
    return NULL;
  const char *name = native_name_arg(name_obj);
  if (!name) return NULL;
  shmarray_attach_options opts = {0};
  uint8_t pin_id[SA_ID_LEN];
  if (native_dir_arg(dir_obj, &opts.dir) < 0 || pin_arg(pin_obj, &opts, pin_id) < 0) return NULL;
  uint32_t *owners;
  if (owners_arg(owners_obj, &owners, &opts.owner_count) < 0) return NULL;
  opts.owners = owners;
  shmarray_segment *seg = NULL;
  char err[NATIVE_ERR_LEN];
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = shmarray_attach_with(name, &opts, &seg, err, sizeof err);
  Py_END_ALLOW_THREADS
  free(owners);
  if (rc) return native_raise(rc, err);
  return handle_new(seg, name_obj);
}

/* attach_fd(fd, name, dir): the file open as fd, published as name in dir. */
static PyObject *native_attach_fd(PyObject *mod, PyObject *args) {
  (void)mod;
  int fd;
  PyObject *name_obj, *dir_obj = Py_None;
  if (!PyArg_ParseTuple(args, "iO|O:attach_fd", &fd, &name_obj, &dir_obj)) return NULL;
  const char *name = native_name_arg(name_obj);
  if (!name) return NULL;
  const char *dir;
  if (native_dir_arg(dir_obj, &dir) < 0) return NULL;
  shmarray_segment *seg = NULL;
  char err[NATIVE_ERR_LEN];
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = shmarray_attach_fd(fd, name, dir, &seg, err, sizeof err);
  Py_END_ALLOW_THREADS
  if (rc) return native_raise(rc, err);
  return handle_new(seg, name_obj);
}

/* A Handle owning seg's reference (closed on failure). */
static PyObject *handle_new(shmarray_segment *seg, PyObject *name_obj) {
  HandleObject *h = PyObject_New(HandleObject, Handle_Type);
  if (!h) {
    shmarray_close(seg);
    return NULL;
  }
  h->seg = seg;
  h->closed = 0;
  h->memory = NULL;
  h->dir = h->path = NULL;
  Py_INCREF(name_obj);
  h->name = name_obj;
  /* Absolute and cleaned (spec §2.2): a pickle carries it elsewhere. */
  h->dir = PyUnicode_DecodeFSDefault(seg->dir);
  h->path = PyUnicode_DecodeFSDefault(seg->path);
  if (!h->dir || !h->path) {
    Py_DECREF(h);
    return NULL;
  }
  return (PyObject *)h;
}

/* ---- lifetime ----------------------------------------------------------------- */

static void handle_dealloc(PyObject *self) {
  HandleObject *h = (HandleObject *)self;
  Py_CLEAR(h->memory);
  if (h->seg && h->closed) sa_segment_unpin(h->seg);
  else if (h->seg) sa_segment_unref(h->seg);
  h->seg = NULL;
  Py_CLEAR(h->name);
  Py_CLEAR(h->dir);
  Py_CLEAR(h->path);
  native_free(self);
}

static PyObject *handle_close(PyObject *self, PyObject *unused) {
  (void)unused;
  HandleObject *h = (HandleObject *)self;
  Py_CLEAR(h->memory); /* the views made from it keep it, and the mapping, alive */
  if (!h->closed) { /* keep the directory, let the mapping go */
    sa_segment_pin(h->seg);
    sa_segment_unref(h->seg);
    h->closed = 1;
  }
  Py_RETURN_NONE;
}

/* ---- the mapping, exported through the buffer protocol ------------------- */

typedef struct {
  PyObject_HEAD
  shmarray_segment *seg; /* own reference, dropped when the last view is gone */
} MappingObject;

PyTypeObject *Mapping_Type;

static int mapping_getbuffer(PyObject *self, Py_buffer *view, int flags) {
  MappingObject *m = (MappingObject *)self;
  if (flags & PyBUF_WRITABLE) {
    PyErr_SetString(PyExc_BufferError, "a segment is mapped read-only");
    return -1;
  }
  /* view->obj becomes this object (a new reference): it lives as long as
   * any memoryview or array made from the buffer. */
  return PyBuffer_FillInfo(view, self, (void *)m->seg->base, (Py_ssize_t)m->seg->size, 1, flags);
}

static void mapping_dealloc(PyObject *self) {
  sa_segment_unref(((MappingObject *)self)->seg);
  native_free(self);
}

static PyType_Slot mapping_slots[] = {
    {Py_bf_getbuffer, mapping_getbuffer},
    {Py_tp_new, native_new_refused},
    {Py_tp_dealloc, mapping_dealloc},
    {Py_tp_doc, "The read-only mapping of one segment, as a buffer (Handle.memory())."},
    {0, NULL},
};

static PyType_Spec mapping_spec = {"shmarray._native.Mapping", sizeof(MappingObject), 0,
                                   Py_TPFLAGS_DEFAULT, mapping_slots};

static PyObject *handle_memory(PyObject *self, PyObject *unused) {
  (void)unused;
  HandleObject *h = (HandleObject *)self;
  if (!h->memory) {
    shmarray_segment *seg = native_segment(h);
    if (!seg) return NULL;
    MappingObject *m = PyObject_New(MappingObject, Mapping_Type);
    if (!m) return NULL;
    sa_segment_ref(seg);
    m->seg = seg;
    h->memory = (PyObject *)m;
  }
  Py_INCREF(h->memory);
  return h->memory;
}

/* ---- the directory --------------------------------------------------------------- */

static PyObject *handle_header(PyObject *self, PyObject *unused) {
  (void)unused;
  shmarray_segment *seg = native_directory((HandleObject *)self);
  const sa_header *hd = &seg->h;
  return Py_BuildValue("KLkOII", (unsigned long long)hd->file_size, (long long)hd->created_ns,
                       (unsigned long)hd->creator_pid,
                       (hd->flags & SA_FLAG_EPHEMERAL) ? Py_True : Py_False, (unsigned)hd->minor,
                       (unsigned)hd->array_count);
}

/* (id: 16 bytes, version): zeros for a file older than format 1.2. */
static PyObject *handle_identity(PyObject *self, PyObject *unused) {
  (void)unused;
  shmarray_segment *seg = native_directory((HandleObject *)self);
  uint8_t id[SA_ID_LEN];
  uint64_t version = 0;
  shmarray_identity(seg, id, &version);
  return Py_BuildValue("(y#K)", (const char *)id, (Py_ssize_t)SA_ID_LEN,
                       (unsigned long long)version);
}

/* One stat of the name, holding the GIL: cheaper than releasing it for a
 * call that takes about a microsecond on tmpfs. */
static PyObject *handle_is_current(PyObject *self, PyObject *unused) {
  (void)unused;
  shmarray_segment *seg = native_directory((HandleObject *)self);
  char err[NATIVE_ERR_LEN];
  int current = 0;
  int rc = shmarray_is_current(seg, &current, err, sizeof err);
  if (rc) return native_raise(rc, err);
  return PyBool_FromLong(current);
}

static PyObject *handle_owner(PyObject *self, PyObject *unused) {
  (void)unused;
  shmarray_segment *seg = native_segment((HandleObject *)self);
  if (!seg) return NULL;
  uint32_t uid = 0, mode = 0;
  shmarray_owner(seg, &uid, &mode);
  return Py_BuildValue("(kk)", (unsigned long)uid, (unsigned long)mode);
}

static PyObject *handle_names(PyObject *self, PyObject *unused) {
  (void)unused;
  shmarray_segment *seg = native_directory((HandleObject *)self);
  PyObject *out = PyList_New(0);
  if (!out) return NULL;
  for (uint32_t i = 0; i < seg->h.array_count; i++) {
    if (seg->arrays[i].is_child) continue; /* columns only (spec §6.1) */
    PyObject *s = text(seg->arrays[i].name, seg->arrays[i].name_len);
    if (!s || PyList_Append(out, s) < 0) {
      Py_XDECREF(s);
      Py_DECREF(out);
      return NULL;
    }
    Py_DECREF(s);
  }
  return out;
}

static PyObject *handle_num_rows(PyObject *self, PyObject *unused) {
  (void)unused;
  shmarray_segment *seg = native_directory((HandleObject *)self);
  if (seg->h.array_count == 0) return PyLong_FromLong(0);
  int64_t n = seg->arrays[0].length; /* record 0 is a column */
  for (uint32_t i = 1; i < seg->h.array_count; i++)
    if (!seg->arrays[i].is_child && seg->arrays[i].length != n) Py_RETURN_NONE;
  return PyLong_FromLongLong(n);
}

static PyObject *handle_find(PyObject *self, PyObject *name) {
  shmarray_segment *seg = native_directory((HandleObject *)self);
  size_t i;
  Py_ssize_t n;
  const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &n) : NULL;
  if (!s) {
    PyErr_Clear(); /* not a str, or not encodable: no such array */
    return PyLong_FromLong(-1);
  }
  if ((size_t)n != strlen(s) || shmarray_find_array(seg, s, &i) != SHMARRAY_OK) return PyLong_FromLong(-1);
  return PyLong_FromSize_t(i);
}

static PyObject *handle_describe(PyObject *self, PyObject *arg) {
  shmarray_segment *seg = native_directory((HandleObject *)self);
  Py_ssize_t i = native_array_index(seg, arg);
  if (i < 0) return NULL;
  const sa_array *a = &seg->arrays[i];
  PyObject *shape = PyTuple_New(a->ndim);
  if (!shape) return NULL;
  for (int k = 0; k < a->ndim; k++) {
    PyObject *d = PyLong_FromLongLong(a->shape[k]);
    if (!d) {
      Py_DECREF(shape);
      return NULL;
    }
    PyTuple_SetItem(shape, k, d);
  }
  PyObject *tz = a->tz_len ? text(a->tz, a->tz_len) : (Py_INCREF(Py_None), Py_None);
  if (!tz) {
    Py_DECREF(shape);
    return NULL;
  }
  /* name, type, unit, byte_width, shape, timezone, length, null_count,
   * (validity), (offsets), (data) as (offset, length), indexed, row_elems,
   * and (1.3) dict_index, child (-1: none), is_child */
  return Py_BuildValue("(NIIINNLL(KK)(KK)(KK)OKInO)", text(a->name, a->name_len), (unsigned)a->type,
                       (unsigned)a->unit, (unsigned)a->byte_width, shape, tz, (long long)a->length,
                       (long long)a->null_count, (unsigned long long)a->validity_off,
                       (unsigned long long)a->validity_len, (unsigned long long)a->offsets_off,
                       (unsigned long long)a->offsets_len, (unsigned long long)a->data_off,
                       (unsigned long long)a->data_len, a->index_kind == 1 ? Py_True : Py_False,
                       (unsigned long long)a->row_elems, (unsigned)a->dict_index,
                       sa_type_nested(a->type) ? (Py_ssize_t)a->child : (Py_ssize_t)-1,
                       a->is_child ? Py_True : Py_False);
}

/* list_slot(i, slot): the checked child range (start, end) of a list slot. */
static PyObject *handle_list_slot(PyObject *self, PyObject *args) {
  Py_ssize_t i;
  long long slot;
  if (!PyArg_ParseTuple(args, "nL", &i, &slot)) return NULL;
  shmarray_segment *seg = native_segment((HandleObject *)self); /* the mapping is read */
  if (!seg) return NULL;
  int64_t start, end;
  char err[1024];
  int rc = shmarray_list_slot(seg, (size_t)i, slot, &start, &end, err, sizeof err);
  if (rc) return native_raise(rc, err);
  return Py_BuildValue("(LL)", (long long)start, (long long)end);
}

/* dictionary_slot(i, slot): the checked dictionary index of a slot, -1 if null. */
static PyObject *handle_dictionary_slot(PyObject *self, PyObject *args) {
  Py_ssize_t i;
  long long slot;
  if (!PyArg_ParseTuple(args, "nL", &i, &slot)) return NULL;
  shmarray_segment *seg = native_segment((HandleObject *)self);
  if (!seg) return NULL;
  int64_t v;
  char err[1024];
  int rc = shmarray_dictionary_slot(seg, (size_t)i, slot, &v, err, sizeof err);
  if (rc) return native_raise(rc, err);
  return PyLong_FromLongLong((long long)v);
}

static PyObject *handle_metadata(PyObject *self, PyObject *arg) {
  shmarray_segment *seg = native_directory((HandleObject *)self);
  const sa_kv *kv;
  size_t n;
  Py_ssize_t i = PyLong_AsSsize_t(arg);
  if (i == -1 && PyErr_Occurred()) return NULL;
  if (i == -1) {
    kv = seg->seg_kv;
    n = seg->seg_kv_count;
  } else {
    if ((i = native_array_index(seg, arg)) < 0) return NULL;
    kv = seg->arrays[i].kv;
    n = seg->arrays[i].kv_count;
  }
  PyObject *out = PyList_New((Py_ssize_t)n);
  if (!out) return NULL;
  for (size_t j = 0; j < n; j++) {
    PyObject *pair = Py_BuildValue("(NN)", text(kv[j].key, kv[j].key_len), text(kv[j].value, kv[j].value_len));
    if (!pair) {
      Py_DECREF(out);
      return NULL;
    }
    PyList_SetItem(out, (Py_ssize_t)j, pair);
  }
  return out;
}

/* ---- full validation ----------------------------------------------------------- */

static PyObject *handle_validate(PyObject *self, PyObject *args) {
  shmarray_segment *seg = native_segment((HandleObject *)self);
  if (!seg) return NULL;
  PyObject *which = Py_None;
  if (!PyArg_ParseTuple(args, "|O:validate", &which)) return NULL;
  Py_ssize_t i = -1;
  if (which != Py_None && (i = native_array_index(seg, which)) < 0) return NULL;
  char err[NATIVE_ERR_LEN];
  int rc;
  sa_segment_ref(seg); /* a close() in another thread cannot free it meanwhile */
  Py_BEGIN_ALLOW_THREADS
  rc = i < 0 ? shmarray_validate(seg, err, sizeof err) : sa_validate_array(seg, (size_t)i, err, sizeof err);
  Py_END_ALLOW_THREADS
  sa_segment_unref(seg);
  if (rc) return native_raise(rc, err);
  Py_RETURN_NONE;
}

/* ---- Arrow PyCapsules ------------------------------------------------------------ */

static void free_schema_capsule(PyObject *cap) {
  struct ArrowSchema *s = PyCapsule_GetPointer(cap, "arrow_schema");
  if (!s) {
    PyErr_Clear();
    return;
  }
  if (s->release) s->release(s);
  free(s);
}

static void free_array_capsule(PyObject *cap) {
  struct ArrowArray *a = PyCapsule_GetPointer(cap, "arrow_array");
  if (!a) {
    PyErr_Clear();
    return;
  }
  if (a->release) a->release(a);
  free(a);
}

static void free_stream_capsule(PyObject *cap) {
  struct ArrowArrayStream *s = PyCapsule_GetPointer(cap, "arrow_array_stream");
  if (!s) {
    PyErr_Clear();
    return;
  }
  if (s->release) s->release(s);
  free(s);
}

/* (schema capsule, array capsule) of array i, zero-copy: the consumer's
 * buffers keep the mapping alive until released. */
static PyObject *handle_export_array(PyObject *self, PyObject *arg) {
  shmarray_segment *seg = native_segment((HandleObject *)self);
  if (!seg) return NULL;
  Py_ssize_t i = native_array_index(seg, arg);
  if (i < 0) return NULL;
  struct ArrowSchema *s = calloc(1, sizeof *s);
  struct ArrowArray *a = calloc(1, sizeof *a);
  if (!s || !a) {
    free(s);
    free(a);
    return PyErr_NoMemory();
  }
  char err[NATIVE_ERR_LEN];
  int rc = shmarray_export_array(seg, (size_t)i, a, s, err, sizeof err);
  if (rc) {
    free(s);
    free(a);
    return native_raise(rc, err);
  }
  PyObject *sc = PyCapsule_New(s, "arrow_schema", free_schema_capsule);
  if (!sc) {
    s->release(s);
    free(s);
    a->release(a);
    free(a);
    return NULL;
  }
  PyObject *ac = PyCapsule_New(a, "arrow_array", free_array_capsule);
  if (!ac) {
    Py_DECREF(sc);
    a->release(a);
    free(a);
    return NULL;
  }
  return Py_BuildValue("(NN)", sc, ac);
}

/* An ArrowArrayStream capsule of the whole segment as one record batch. */
static PyObject *handle_export_stream(PyObject *self, PyObject *unused) {
  (void)unused;
  shmarray_segment *seg = native_segment((HandleObject *)self);
  if (!seg) return NULL;
  struct ArrowArrayStream *st = calloc(1, sizeof *st);
  if (!st) return PyErr_NoMemory();
  char err[NATIVE_ERR_LEN];
  int rc = shmarray_export_stream(seg, st, err, sizeof err);
  if (rc) {
    free(st);
    return native_raise(rc, err);
  }
  PyObject *cap = PyCapsule_New(st, "arrow_array_stream", free_stream_capsule);
  if (!cap) {
    st->release(st);
    free(st);
  }
  return cap;
}

/* The schema of the stream, as an arrow_schema capsule. */
static PyObject *handle_export_schema(PyObject *self, PyObject *unused) {
  PyObject *cap = handle_export_stream(self, unused);
  if (!cap) return NULL;
  struct ArrowArrayStream *st = PyCapsule_GetPointer(cap, "arrow_array_stream");
  struct ArrowSchema *s = calloc(1, sizeof *s);
  if (!s) {
    Py_DECREF(cap);
    return PyErr_NoMemory();
  }
  int rc = st->get_schema(st, s);
  Py_DECREF(cap);
  if (rc) {
    free(s);
    return native_raisef(SHMARRAY_INTERNAL, "out of memory exporting the schema");
  }
  PyObject *sc = PyCapsule_New(s, "arrow_schema", free_schema_capsule);
  if (!sc) {
    s->release(s);
    free(s);
  }
  return sc;
}

/* ---- views ------------------------------------------------------------------------- */

static PyObject *handle_index(PyObject *self, PyObject *args) {
  PyObject *i_obj, *type = (PyObject *)Index_Type;
  if (!PyArg_ParseTuple(args, "O|O!:index", &i_obj, &PyType_Type, &type)) return NULL;
  shmarray_segment *seg = native_segment((HandleObject *)self);
  if (!seg) return NULL;
  Py_ssize_t i = native_array_index(seg, i_obj);
  if (i < 0) return NULL;
  return native_index_new((PyTypeObject *)type, seg, (size_t)i);
}

static PyObject *handle_strings(PyObject *self, PyObject *args) {
  PyObject *i_obj, *type = (PyObject *)StringColumn_Type;
  if (!PyArg_ParseTuple(args, "O|O!:strings", &i_obj, &PyType_Type, &type)) return NULL;
  shmarray_segment *seg = native_segment((HandleObject *)self);
  if (!seg) return NULL;
  Py_ssize_t i = native_array_index(seg, i_obj);
  if (i < 0) return NULL;
  return native_strings_new((PyTypeObject *)type, seg, (size_t)i);
}

/* ---- the type ------------------------------------------------------------------------ */

static PyObject *get_name(PyObject *self, void *c) {
  (void)c;
  PyObject *v = ((HandleObject *)self)->name;
  Py_INCREF(v);
  return v;
}
static PyObject *get_dir(PyObject *self, void *c) {
  (void)c;
  PyObject *v = ((HandleObject *)self)->dir;
  Py_INCREF(v);
  return v;
}
static PyObject *get_path(PyObject *self, void *c) {
  (void)c;
  PyObject *v = ((HandleObject *)self)->path;
  Py_INCREF(v);
  return v;
}
static PyObject *get_closed(PyObject *self, void *c) {
  (void)c;
  return PyBool_FromLong(((HandleObject *)self)->closed);
}
static PyObject *get_count(PyObject *self, void *c) {
  (void)c;
  return PyLong_FromUnsignedLong(native_directory((HandleObject *)self)->h.array_count);
}

static PyGetSetDef handle_getset[] = {
    {"name", get_name, NULL, "The segment name, as given to attach.", NULL},
    {"dir", get_dir, NULL, "The directory it was attached from, absolute and cleaned.", NULL},
    {"path", get_path, NULL, "Its file path.", NULL},
    {"closed", get_closed, NULL, "Whether close() was called.", NULL},
    {"count", get_count, NULL, "Number of arrays.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef handle_methods[] = {
    {"close", handle_close, METH_NOARGS, "Drop this handle's reference to the mapping. Idempotent."},
    {"memory", handle_memory, METH_NOARGS, "The whole mapping as a read-only buffer (one object per handle)."},
    {"header", handle_header, METH_NOARGS, "(file_size, created_ns, creator_pid, ephemeral, minor, array_count)."},
    {"owner", handle_owner, METH_NOARGS, "(uid, mode): st_uid and st_mode & 0o777 of the file attached."},
    {"identity", handle_identity, METH_NOARGS, "(id: 16 bytes, version): zero for a file before format 1.2."},
    {"is_current", handle_is_current, METH_NOARGS,
     "Whether the name still holds the file attached (one stat; works after close)."},
    {"names", handle_names, METH_NOARGS, "Array names in directory order."},
    {"find", handle_find, METH_O, "Index of the array called name, or -1."},
    {"num_rows", handle_num_rows, METH_NOARGS, "The common length of every array, or None (0 arrays: 0)."},
    {"describe", handle_describe, METH_O, "The directory record of array i, decoded and checked."},
    {"list_slot", handle_list_slot, METH_VARARGS, "list_slot(i, slot): (start, end) child slots, checked."},
    {"dictionary_slot", handle_dictionary_slot, METH_VARARGS, "dictionary_slot(i, slot): the checked index, -1 if null."},
    {"metadata", handle_metadata, METH_O, "Key/value pairs of array i, or of the segment for -1."},
    {"validate", handle_validate, METH_VARARGS, "Full validation of every array, or of array i."},
    {"export_array", handle_export_array, METH_O, "(arrow_schema, arrow_array) capsules of array i."},
    {"export_stream", handle_export_stream, METH_NOARGS, "An arrow_array_stream capsule of every array."},
    {"export_schema", handle_export_schema, METH_NOARGS, "The arrow_schema capsule of the stream."},
    {"index", handle_index, METH_VARARGS, "index(i, type=Index): the hash index of array i."},
    {"strings", handle_strings, METH_VARARGS, "strings(i, type=StringColumn): a variable-length array."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot handle_slots[] = {
    {Py_tp_dealloc, handle_dealloc},
    {Py_tp_new, native_new_refused},
    {Py_tp_methods, handle_methods},
    {Py_tp_getset, handle_getset},
    {Py_tp_doc, "An attached segment; made by attach()."},
    {0, NULL},
};

static PyType_Spec handle_spec = {"shmarray._native.Handle", sizeof(HandleObject), 0,
                                  Py_TPFLAGS_DEFAULT, handle_slots};

static PyMethodDef module_functions[] = {
    {"attach", native_attach, METH_VARARGS,
     "attach(name, dir=None, owners=None, pin=None) -> Handle: open, structurally validate (from\n"
     "private memory) and map a segment; with owners, a sequence of uids, refuse any other owner;\n"
     "with pin, (16-byte id, version), StaleSegmentError unless the name holds that version."},
    {"attach_fd", native_attach_fd, METH_VARARGS,
     "attach_fd(fd, name, dir=None) -> Handle: attach the file open as fd (not closed), published\n"
     "as name in dir: how a writer reads exactly the version it published."},
    {NULL, NULL, 0, NULL},
};

int native_handle_init(PyObject *m) {
  Handle_Type = (PyTypeObject *)PyType_FromSpec(&handle_spec);
  if (!Handle_Type) return -1;
  Mapping_Type = (PyTypeObject *)PyType_FromSpec(&mapping_spec);
  if (!Mapping_Type) return -1;
  Py_INCREF(Mapping_Type);
  if (PyModule_AddObject(m, "Mapping", (PyObject *)Mapping_Type) < 0) return -1;
  Py_INCREF(Handle_Type);
  if (PyModule_AddObject(m, "Handle", (PyObject *)Handle_Type) < 0) return -1;
  return PyModule_AddFunctions(m, module_functions);
}
