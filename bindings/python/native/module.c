/* shmarray._native: module definition and errors. See native.h. */
#include <stdarg.h>
#include <string.h>

#include "native.h"

static PyObject *error_for; /* shmarray._errors.error_for(code, message) */

/* Raises error_for(code, message) for a str message. */
static PyObject *raise_obj(int code, PyObject *message) {
  if (!error_for) {
    PyObject *errors = PyImport_ImportModule("shmarray._errors");
    if (!errors) return NULL;
    error_for = PyObject_GetAttrString(errors, "error_for");
    Py_DECREF(errors);
    if (!error_for) return NULL;
  }
  PyObject *exc = PyObject_CallFunction(error_for, "iO", code, message);
  if (!exc) return NULL;
  PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
  Py_DECREF(exc);
  return NULL;
}

PyObject *native_message(const char *message) {
  /* The core writes UTF-8; a message cut inside a character still decodes. */
  return PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
}

PyObject *native_raise(int code, const char *message) {
  PyObject *msg = native_message(message);
  if (!msg) return NULL;
  raise_obj(code, msg);
  Py_DECREF(msg);
  return NULL;
}

PyObject *native_raisef(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  PyObject *text = PyUnicode_FromFormatV(fmt, ap);
  va_end(ap);
  if (!text) return NULL;
  PyObject *msg = PyUnicode_FromFormat("shmarray: %s: %U", sa_code_text(code), text);
  Py_DECREF(text);
  if (!msg) return NULL;
  raise_obj(code, msg);
  Py_DECREF(msg);
  return NULL;
}

int native_dir_arg(PyObject *obj, const char **out) {
  /* Resolved here, holding the GIL, not by the core once the GIL is
   * released: os.environ changes the environment under the GIL, and getenv
   * racing setenv is undefined. (glibc never frees a value setenv or
   * unsetenv drops, so the pointer stays valid.) */
  *out = sa_resolve_dir(NULL);
  if (obj == NULL || obj == Py_None) return 0;
  if (!PyUnicode_Check(obj)) {
    PyObject *t = native_type_name(obj);
    if (t) PyErr_Format(PyExc_TypeError, "dir must be a str or None, not %U", t);
    Py_XDECREF(t);
    return -1;
  }
  Py_ssize_t n;
  const char *s = PyUnicode_AsUTF8AndSize(obj, &n);
  if (!s) return -1;
  if ((size_t)n != strlen(s)) {
    native_raisef(SHMARRAY_INVALID_ARGUMENT, "directory contains a NUL character");
    return -1;
  }
  *out = sa_resolve_dir(s);
  return 0;
}

PyObject *native_type_name(PyObject *obj) {
  PyObject *n = PyObject_GetAttrString((PyObject *)Py_TYPE(obj), "__name__");
  if (!n) {
    PyErr_Clear();
    n = PyUnicode_FromString("?");
  }
  return n;
}

const char *native_name_arg(PyObject *name) {
  if (!PyUnicode_Check(name)) {
    PyObject *t = native_type_name(name);
    if (t) native_raisef(SHMARRAY_INVALID_ARGUMENT, "segment name must be a str, not %U", t);
    Py_XDECREF(t);
    return NULL;
  }
  Py_ssize_t n;
  const char *s = PyUnicode_AsUTF8AndSize(name, &n);
  if (!s) {
    PyErr_Clear();
    native_raisef(SHMARRAY_INVALID_ARGUMENT, "segment name %R is not valid UTF-8", name);
    return NULL;
  }
  if ((size_t)n != strlen(s)) {
    native_raisef(SHMARRAY_INVALID_ARGUMENT, "segment name %R contains a NUL character", name);
    return NULL;
  }
  return s;
}

PyObject *native_new_refused(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
  (void)args, (void)kwargs;
  PyObject *n = PyObject_GetAttrString((PyObject *)type, "__name__");
  if (n) PyErr_Format(PyExc_TypeError, "%U objects come from shmarray.attach, not from a constructor", n);
  Py_XDECREF(n);
  return NULL;
}

void native_free(PyObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
  f(self);
  Py_DECREF(tp);
}

static PyObject *hash_key(PyObject *mod, PyObject *arg) {
  (void)mod;
  char *p;
  Py_ssize_t n;
  if (PyBytes_AsStringAndSize(arg, &p, &n) < 0) return NULL;
  return PyLong_FromUnsignedLongLong(sa_index_hash(p, (size_t)n));
}

static PyObject *quote(PyObject *mod, PyObject *arg) {
  (void)mod;
  char *p;
  Py_ssize_t n;
  if (PyBytes_AsStringAndSize(arg, &p, &n) < 0) return NULL;
  char buf[SA_QUOTE_LEN(SA_QUOTE_NAME)];
  return native_message(sa_quote(p, (size_t)n, SA_QUOTE_NAME, buf, sizeof buf));
}

static PyMethodDef methods[] = {
    {"hash_key", hash_key, METH_O,
     "hash_key(key: bytes) -> int\n\nThe hash of spec §7.8.2 of key bytes (for tests)."},
    {"quote", quote, METH_O,
     "quote(name: bytes) -> str\n\nA name as messages show it (spec §13), for the messages Python writes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "shmarray._native",
    "The plain-C reader core of shmarray (capi/sa_*.c) for Python: attach, views, validation,\n"
    "index lookups, Arrow export, listing and gc. No Go: safe in forked workers.",
    -1, methods, NULL, NULL, NULL, NULL,
};

/* Whether the compiler optimized this build (the core is compiled with the
 * same flags): a build that dropped -O2 is several times slower at lookups. */
#ifdef __OPTIMIZE__
#define NATIVE_OPTIMIZED 1
#else
#define NATIVE_OPTIMIZED 0
#endif

PyMODINIT_FUNC PyInit__native(void) {
  /* Messages name the Python functions that fix the problem. */
  sa_fix.list = "shmarray.list_segments()";
  sa_fix.export_array = "Segment.column_to_arrow()";
  sa_fix.owners = "the owner argument of shmarray.attach()";
  PyObject *m = PyModule_Create(&moduledef);
  if (!m) return NULL;
  /* The spec's type names by code (spec §6), for ArrayInfo.type. */
  PyObject *names = PyTuple_New(SHMARRAY_TYPE_DICTIONARY + 1);
  if (!names) {
    Py_DECREF(m);
    return NULL;
  }
  for (unsigned t = 0; t <= SHMARRAY_TYPE_DICTIONARY; t++) {
    PyObject *n = PyUnicode_FromString(sa_type_name(t));
    if (!n) {
      Py_DECREF(names);
      Py_DECREF(m);
      return NULL;
    }
    PyTuple_SetItem(names, (Py_ssize_t)t, n);
  }
  if (PyModule_AddObject(m, "type_names", names) < 0) {
    Py_DECREF(names);
    Py_DECREF(m);
    return NULL;
  }
  if (native_handle_init(m) < 0 || native_index_init(m) < 0 || native_strings_init(m) < 0 ||
      native_listing_init(m) < 0 || native_output_init(m) < 0 || native_capsule_init(m) < 0 ||
      native_dlpack_init(m) < 0 || PyModule_AddStringConstant(m, "version", shmarray_version()) < 0 ||
      PyModule_AddIntConstant(m, "format_major", SHMARRAY_FORMAT_MAJOR) < 0 ||
      PyModule_AddIntConstant(m, "format_minor", SHMARRAY_FORMAT_MINOR) < 0 ||
      PyModule_AddIntConstant(m, "optimized", NATIVE_OPTIMIZED) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
