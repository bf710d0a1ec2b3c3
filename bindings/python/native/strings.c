/* shmarray._native.StringColumn: a utf8, large_utf8, binary or large_binary
 * array read in place, one value at a time or in ranges, with the per-slot
 * offsets check of spec §11.4 (sa_slot_range) since the array may not have
 * been fully validated. A base class: shmarray.StringColumn derives from it
 * (and from Sequence) in Python. */
#include "native.h"

PyTypeObject *StringColumn_Type;

typedef struct {
  PyObject_HEAD
  shmarray_segment *seg; /* own reference: the column outlives close() */
  size_t array;
  int64_t length;
  const uint8_t *validity; /* NULL without nulls */
  const uint8_t *offs;     /* NULL for an empty array without offsets */
  unsigned ow;
  const uint8_t *data;
  uint64_t data_len;
  int text; /* utf8 types: values are str, else bytes */
} StringsObject;

PyObject *native_strings_new(PyTypeObject *type, shmarray_segment *seg, size_t i) {
  const sa_array *a = &seg->arrays[i];
  if (!PyType_IsSubtype(type, StringColumn_Type)) {
    PyErr_SetString(PyExc_TypeError, "type must derive from shmarray._native.StringColumn");
    return NULL;
  }
  if (!sa_offset_width(a->type))
    return native_raisef(SHMARRAY_INVALID_ARGUMENT, "array %zu is a %s array, not a variable-length one", i,
                         sa_type_name(a->type));
  /* Referenced before the allocation, which may run the garbage collector
   * and with it a finalizer that closes the segment. */
  sa_segment_ref(seg);
  allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
  StringsObject *o = (StringsObject *)alloc(type, 0);
  if (!o) {
    sa_segment_unref(seg);
    return NULL;
  }
  o->seg = seg;
  o->array = i;
  o->length = a->length;
  o->validity = a->null_count > 0 ? seg->base + a->validity_off : NULL;
  o->offs = a->offsets_len ? seg->base + a->offsets_off : NULL;
  o->ow = sa_offset_width(a->type);
  o->data = a->data_len ? seg->base + a->data_off : seg->base; /* an empty buffer's offset means nothing */
  o->data_len = a->data_len;
  o->text = a->type == SHMARRAY_TYPE_UTF8 || a->type == SHMARRAY_TYPE_LARGE_UTF8;
  return (PyObject *)o;
}

static void strings_dealloc(PyObject *self) {
  StringsObject *o = (StringsObject *)self;
  if (o->seg) sa_segment_unref(o->seg);
  o->seg = NULL;
  native_free(self);
}

/* Value i (0 <= i < length): str, bytes or None. */
static PyObject *value(StringsObject *o, uint64_t i) {
  if (o->validity && !sa_bit(o->validity, i)) Py_RETURN_NONE;
  uint64_t start, end;
  const sa_array *a = &o->seg->arrays[o->array];
  char err[NATIVE_ERR_LEN];
  if (!sa_slot_range(o->offs, o->ow, o->data_len, i, &start, &end))
    return native_raise(sa_slot_fail(o->seg->name, a->name, a->name_len, i, start, end, o->data_len,
                                     err, sizeof err),
                        err);
  const char *p = (const char *)o->data + start;
  Py_ssize_t n = (Py_ssize_t)(end - start);
  if (!o->text) return PyBytes_FromStringAndSize(p, n);
  PyObject *s = PyUnicode_DecodeUTF8(p, n, NULL);
  if (!s && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
    PyErr_Clear();
    return native_raise(sa_array_fail(SHMARRAY_BAD_UTF8, o->seg->name, a->name, a->name_len, err,
                                      sizeof err, "value %llu is not valid UTF-8", (unsigned long long)i),
                        err);
  }
  return s;
}

/* The n values start, start + step, ... as a list (all in range). */
static PyObject *range(StringsObject *o, Py_ssize_t start, Py_ssize_t n, Py_ssize_t step) {
  PyObject *out = PyList_New(n);
  if (!out) return NULL;
  for (Py_ssize_t k = 0; k < n; k++) {
    PyObject *v = value(o, (uint64_t)(start + k * step));
    if (!v) {
      Py_DECREF(out);
      return NULL;
    }
    PyList_SetItem(out, k, v);
  }
  return out;
}

static Py_ssize_t strings_len(PyObject *self) { return (Py_ssize_t)((StringsObject *)self)->length; }

static PyObject *strings_getitem(PyObject *self, PyObject *key) {
  StringsObject *o = (StringsObject *)self;
  if (PySlice_Check(key)) {
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(key, &start, &stop, &step) < 0) return NULL;
    Py_ssize_t n = PySlice_AdjustIndices((Py_ssize_t)o->length, &start, &stop, step);
    return range(o, start, n, step);
  }
  if (!PyIndex_Check(key)) {
    PyObject *t = native_type_name(key);
    if (t) PyErr_Format(PyExc_TypeError, "StringColumn indices must be integers or slices, not %U", t);
    Py_XDECREF(t);
    return NULL;
  }
  Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
  if (i == -1 && PyErr_Occurred()) return NULL;
  Py_ssize_t n = (Py_ssize_t)o->length;
  Py_ssize_t j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) {
    PyErr_Format(PyExc_IndexError, "index %zd is out of range for %zd values", i, n);
    return NULL;
  }
  return value(o, (uint64_t)j);
}

static PyObject *strings_range(PyObject *self, PyObject *args) {
  StringsObject *o = (StringsObject *)self;
  Py_ssize_t start, stop;
  if (!PyArg_ParseTuple(args, "nn:_range", &start, &stop)) return NULL;
  if (start < 0) start = 0;
  if (stop > (Py_ssize_t)o->length) stop = (Py_ssize_t)o->length;
  return range(o, start, stop > start ? stop - start : 0, 1);
}

static PyObject *strings_to_pylist(PyObject *self, PyObject *unused) {
  (void)unused;
  return range((StringsObject *)self, 0, (Py_ssize_t)((StringsObject *)self)->length, 1);
}

static PyObject *get_array(PyObject *self, void *c) {
  (void)c;
  return PyLong_FromSize_t(((StringsObject *)self)->array);
}

static PyGetSetDef strings_getset[] = {
    {"_array", get_array, NULL, "The array's position in the directory.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef strings_methods[] = {
    {"_range", strings_range, METH_VARARGS, "Values [start, stop) as a list."},
    {"to_pylist", strings_to_pylist, METH_NOARGS, "Every value as a list of str/bytes/None (a copy)."},
    {NULL, NULL, 0, NULL},
};

static PyObject *strings_new_refused(PyTypeObject *t, PyObject *a, PyObject *k) {
  (void)t, (void)a, (void)k;
  PyErr_SetString(PyExc_TypeError, "StringColumn objects come from Segment[name]");
  return NULL;
}

static PyType_Slot strings_slots[] = {
    {Py_tp_dealloc, strings_dealloc},
    {Py_tp_new, strings_new_refused},
    {Py_sq_length, strings_len},
    {Py_mp_length, strings_len},
    {Py_mp_subscript, strings_getitem},
    {Py_tp_methods, strings_methods},
    {Py_tp_getset, strings_getset},
    {0, NULL},
};

static PyType_Spec strings_spec = {"shmarray._native.StringColumn", sizeof(StringsObject), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, strings_slots};

int native_strings_init(PyObject *m) {
  StringColumn_Type = (PyTypeObject *)PyType_FromSpec(&strings_spec);
  if (!StringColumn_Type) return -1;
  Py_INCREF(StringColumn_Type);
  return PyModule_AddObject(m, "StringColumn", (PyObject *)StringColumn_Type);
}
