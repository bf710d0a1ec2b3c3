/* shmarray._native.Index: the hash index of one array (spec §7.8), looked
 * up by the core's sa_ix_find_* (one key) and sa_ix_lookup (batches). A
 * base class: shmarray.Index derives from it (and from Mapping) in Python.
 * `key in idx`, `idx[key]` and `idx.get(key)` run here in C, with no Python
 * frame, which is what lets a per-key loop keep up with a dict. */
#include "native.h"

PyTypeObject *Index_Type;

typedef struct {
  PyObject_HEAD
  shmarray_segment *seg; /* own reference: the index outlives close() */
  sa_ix x;
  size_t array;
} IndexObject;

PyObject *native_index_new(PyTypeObject *type, shmarray_segment *seg, size_t i) {
  if (!PyType_IsSubtype(type, Index_Type)) {
    PyErr_SetString(PyExc_TypeError, "type must derive from shmarray._native.Index");
    return NULL;
  }
  char err[NATIVE_ERR_LEN];
  sa_ix x;
  int rc = sa_ix_open(seg, i, &x, err, sizeof err);
  if (rc) return native_raise(rc, err);
  /* Referenced before the allocation, which may run the garbage collector
   * and with it a finalizer that closes the segment. */
  sa_segment_ref(seg);
  allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
  IndexObject *o = (IndexObject *)alloc(type, 0);
  if (!o) {
    sa_segment_unref(seg);
    return NULL;
  }
  o->seg = seg;
  o->x = x;
  o->array = i;
  return (PyObject *)o;
}

/* Holds no Python object, so the base type is not GC-tracked; a Python
 * subclass with slots is, and its dealloc (CPython's) calls this one. */
static void index_dealloc(PyObject *self) {
  IndexObject *o = (IndexObject *)self;
  if (o->seg) sa_segment_unref(o->seg);
  o->seg = NULL;
  native_free(self);
}

/* The bytes of a key for a byte-keyed index: 1 with (*p, *n), the bytes
 * lying in key or in *tmp (a new reference the caller drops after use); 0
 * when key is no str or bytes-like object (never a key); -1 with an error.
 * A str is its UTF-8; lone surrogates are kept as the bytes that
 * "surrogatepass" gives them, which only a binary key can equal. */
static int key_bytes(PyObject *key, const char **p, Py_ssize_t *n, PyObject **tmp) {
  *tmp = NULL;
  if (PyUnicode_Check(key)) {
    if ((*p = PyUnicode_AsUTF8AndSize(key, n))) return 1;
    PyErr_Clear();
    *tmp = PyUnicode_AsEncodedString(key, "utf-8", "surrogatepass");
  } else if (PyBytes_Check(key)) {
    char *b;
    if (PyBytes_AsStringAndSize(key, &b, n) < 0) return -1;
    *p = b;
    return 1;
  } else if (PyByteArray_Check(key)) {
    *p = PyByteArray_AsString(key);
    *n = PyByteArray_Size(key);
    return 1;
  } else if (PyMemoryView_Check(key)) {
    *tmp = PyObject_Bytes(key);
  } else {
    return 0;
  }
  char *b;
  if (!*tmp || PyBytes_AsStringAndSize(*tmp, &b, n) < 0) {
    Py_CLEAR(*tmp);
    return -1;
  }
  *p = b;
  return 1;
}

/* The row of one key, or -1 (not a key, or a key of another kind); -2 with
 * an exception set. */
static int64_t find(IndexObject *o, PyObject *key) {
  const sa_ix *x = &o->x;
  char err[NATIVE_ERR_LEN];
  int64_t row = -1;
  int rc;
  if (x->ints) {
    PyObject *num;
    if (PyLong_CheckExact(key)) {
      Py_INCREF(key);
      num = key;
    } else if (PyIndex_Check(key)) { /* NumPy integers, bool */
      if (!(num = PyNumber_Index(key))) return -2;
    } else {
      return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(num, &overflow);
    if (overflow == 0) {
      Py_DECREF(num);
      if (v == -1 && PyErr_Occurred()) return -2;
      rc = sa_ix_find_int(x, (uint64_t)v, 1, &row, err, sizeof err);
    } else if (overflow > 0) {
      unsigned long long u = PyLong_AsUnsignedLongLong(num);
      Py_DECREF(num);
      if (u == (unsigned long long)-1 && PyErr_Occurred()) { /* beyond 64 bits: no key */
        PyErr_Clear();
        return -1;
      }
      rc = sa_ix_find_int(x, u, 0, &row, err, sizeof err);
    } else {
      Py_DECREF(num);
      return -1; /* below -2^63: no key */
    }
  } else {
    const char *p;
    Py_ssize_t n;
    PyObject *tmp;
    int k = key_bytes(key, &p, &n, &tmp);
    if (k <= 0) return k < 0 ? -2 : -1;
    rc = sa_ix_find_bytes(x, (const uint8_t *)p, (size_t)n, &row, err, sizeof err);
    Py_XDECREF(tmp);
  }
  if (rc) {
    native_raise(rc, err);
    return -2;
  }
  return row;
}

static int index_contains(PyObject *self, PyObject *key) {
  int64_t r = find((IndexObject *)self, key);
  return r == -2 ? -1 : r >= 0;
}

static PyObject *index_getitem(PyObject *self, PyObject *key) {
  int64_t r = find((IndexObject *)self, key);
  if (r == -2) return NULL;
  if (r < 0) {
    PyErr_SetObject(PyExc_KeyError, key);
    return NULL;
  }
  return PyLong_FromLongLong(r);
}

static Py_ssize_t index_len(PyObject *self) {
  const sa_array *a = &((IndexObject *)self)->seg->arrays[((IndexObject *)self)->array];
  return (Py_ssize_t)(a->length - a->null_count);
}

static PyObject *index_get(PyObject *self, PyObject *args) {
  PyObject *key, *dflt = Py_None;
  if (!PyArg_UnpackTuple(args, "get", 1, 2, &key, &dflt)) return NULL;
  int64_t r = find((IndexObject *)self, key);
  if (r == -2) return NULL;
  if (r < 0) {
    Py_INCREF(dflt);
    return dflt;
  }
  return PyLong_FromLongLong(r);
}

static PyObject *index_find(PyObject *self, PyObject *key) {
  int64_t r = find((IndexObject *)self, key);
  return r == -2 ? NULL : PyLong_FromLongLong(r);
}

/* An address argument (an int from NumPy's __array_interface__), 0 for None. */
static int address(PyObject *obj, const void **out) {
  *out = NULL;
  if (obj == Py_None) return 0;
  void *p = PyLong_AsVoidPtr(obj);
  if (!p && PyErr_Occurred()) return -1;
  *out = p;
  return 0;
}

/* _lookup(kind, count, data, data_length, offsets, validity,
 * validity_offset, width, out): a batch of keys in one of the layouts of
 * shmarray_keys, the buffers given by address (the caller keeps them alive),
 * rows written to out (count int64). */
static PyObject *index_lookup(PyObject *self, PyObject *args) {
  IndexObject *o = (IndexObject *)self;
  unsigned kind, width;
  Py_ssize_t count, data_length;
  unsigned long long voff;
  PyObject *data_o, *offs_o, *valid_o, *out_o;
  if (!PyArg_ParseTuple(args, "InOnOOKIO:_lookup", &kind, &count, &data_o, &data_length, &offs_o,
                        &valid_o, &voff, &width, &out_o))
    return NULL;
  if (data_length < 0) return native_raisef(SHMARRAY_INVALID_ARGUMENT, "negative key data length");
  shmarray_keys k;
  memset(&k, 0, sizeof k);
  const void *out;
  if (count < 0 || address(data_o, &k.data) < 0 || address(offs_o, &k.offsets) < 0 ||
      address(valid_o, (const void **)&k.validity) < 0 || address(out_o, &out) < 0)
    return count < 0 ? native_raisef(SHMARRAY_INVALID_ARGUMENT, "negative key count") : NULL;
  if (kind == SA_KEYS_SLICES) return native_raisef(SHMARRAY_INVALID_ARGUMENT, "unknown key kind %u", kind);
  k.kind = kind;
  k.width = width;
  k.count = (size_t)count;
  k.data_length = (size_t)data_length;
  k.validity_offset = voff;
  char err[NATIVE_ERR_LEN];
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = sa_ix_lookup(&o->x, &k, (int64_t *)out, err, sizeof err);
  Py_END_ALLOW_THREADS
  if (rc) return native_raise(rc, err);
  Py_RETURN_NONE;
}

/* _lookup_seq(seq, out): a list or tuple of str / bytes / None keys for a
 * byte-keyed index, looked up without building any array. */
static PyObject *index_lookup_seq(PyObject *self, PyObject *args) {
  IndexObject *o = (IndexObject *)self;
  PyObject *seq, *out_o;
  if (!PyArg_ParseTuple(args, "OO:_lookup_seq", &seq, &out_o)) return NULL;
  const void *out;
  if (address(out_o, &out) < 0) return NULL;
  int is_list = PyList_Check(seq);
  if (!is_list && !PyTuple_Check(seq)) {
    PyErr_SetString(PyExc_TypeError, "_lookup_seq takes a list or a tuple");
    return NULL;
  }
  if (o->x.ints) return native_raisef(SHMARRAY_INVALID_ARGUMENT, "_lookup_seq is for byte-keyed indexes");
  Py_ssize_t n = is_list ? PyList_Size(seq) : PyTuple_Size(seq);
  sa_slice *sl = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *sl);
  PyObject *temps = PyList_New(0); /* bytes made for keys that are not bytes already */
  if (!sl || !temps) {
    PyMem_Free(sl);
    Py_XDECREF(temps);
    return PyErr_NoMemory();
  }
  PyObject *result = NULL;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *v = is_list ? PyList_GetItem(seq, i) : PyTuple_GetItem(seq, i); /* borrowed; the GIL is held */
    const char *p = NULL;
    Py_ssize_t len = 0;
    PyObject *tmp = NULL;
    int kb = v == Py_None ? 1 : key_bytes(v, &p, &len, &tmp);
    if (kb < 0) goto done;
    if (kb == 0) {
      PyObject *t = native_type_name(v);
      if (t)
        native_raisef(SHMARRAY_INVALID_ARGUMENT,
                      "key %zd is a %U, and this index holds strings or bytes; give a list of "
                      "str/bytes (None for no key), a NumPy array or a pyarrow array",
                      i, t);
      Py_XDECREF(t);
      goto done;
    }
    if (tmp) {
      int added = PyList_Append(temps, tmp);
      Py_DECREF(tmp); /* the list holds it until the lookup is over */
      if (added < 0) goto done;
    }
    sl[i].p = (const uint8_t *)p;
    sl[i].n = (size_t)len;
  }
  shmarray_keys k;
  memset(&k, 0, sizeof k);
  k.kind = SA_KEYS_SLICES;
  k.count = (size_t)n;
  k.data = sl;
  char err[NATIVE_ERR_LEN];
  int rc = sa_ix_lookup(&o->x, &k, (int64_t *)out, err, sizeof err); /* GIL held: sl borrows the items */
  if (rc) native_raise(rc, err);
  else result = (Py_INCREF(Py_None), Py_None);
done:
  PyMem_Free(sl);
  Py_DECREF(temps);
  return result;
}

/* _values(type): the indexed variable-length array as a StringColumn (of
 * type, a subclass), which, like the index, works after close(). */
static PyObject *index_values(PyObject *self, PyObject *type) {
  IndexObject *o = (IndexObject *)self;
  if (!o->x.ow) return native_raisef(SHMARRAY_INVALID_ARGUMENT, "the indexed array has no offsets");
  if (!PyType_Check(type)) {
    PyErr_SetString(PyExc_TypeError, "_values takes a type");
    return NULL;
  }
  return native_strings_new((PyTypeObject *)type, o->seg, o->array);
}

static PyObject *get_slots(PyObject *self, void *c) {
  (void)c;
  return PyLong_FromUnsignedLongLong(((IndexObject *)self)->x.mask + 1);
}
static PyObject *get_array(PyObject *self, void *c) {
  (void)c;
  return PyLong_FromSize_t(((IndexObject *)self)->array);
}
static PyObject *get_int_keys(PyObject *self, void *c) {
  (void)c;
  return PyBool_FromLong(((IndexObject *)self)->x.ints);
}
static PyObject *get_signed(PyObject *self, void *c) {
  (void)c;
  return PyBool_FromLong(((IndexObject *)self)->x.is_signed);
}

static PyGetSetDef index_getset[] = {
    {"slots", get_slots, NULL, "Number of slots of the hash table.", NULL},
    {"_array", get_array, NULL, "The indexed array's position in the directory.", NULL},
    {"_int_keys", get_int_keys, NULL, "Whether the keys are integers.", NULL},
    {"_signed", get_signed, NULL, "Whether integer keys are of a signed type.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef index_methods[] = {
    {"get", index_get, METH_VARARGS, "get(key, default=None): the row of key, or default."},
    {"_find", index_find, METH_O, "The row of key, or -1."},
    {"_lookup", index_lookup, METH_VARARGS, NULL},
    {"_lookup_seq", index_lookup_seq, METH_VARARGS, NULL},
    {"_values", index_values, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyObject *index_new_refused(PyTypeObject *t, PyObject *a, PyObject *k) {
  (void)t, (void)a, (void)k;
  PyErr_SetString(PyExc_TypeError, "Index objects come from Segment.index(name)");
  return NULL;
}

static PyType_Slot index_slots[] = {
    {Py_tp_dealloc, index_dealloc},
    {Py_tp_new, index_new_refused},
    {Py_sq_contains, index_contains},
    {Py_mp_subscript, index_getitem},
    {Py_mp_length, index_len},
    {Py_tp_methods, index_methods},
    {Py_tp_getset, index_getset},
    {0, NULL},
};

static PyType_Spec index_spec = {"shmarray._native.Index", sizeof(IndexObject), 0,
                                 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
                                 index_slots};

int native_index_init(PyObject *m) {
  Index_Type = (PyTypeObject *)PyType_FromSpec(&index_spec);
  if (!Index_Type) return -1;
  Py_INCREF(Index_Type);
  return PyModule_AddObject(m, "Index", (PyObject *)Index_Type);
}
