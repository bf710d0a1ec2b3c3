/* shmarray._native.output_open: an output handle (spec §10.6) opened in
 * this process, through the core's shmarray_output_open (capi/sa_output.c).
 * The Output object is the exporter of a writable buffer over the array's
 * bytes; every memoryview and NumPy array made from it keeps it alive, and
 * the mapping and the shared lock go when the last of them does (never
 * earlier, so no view ever points at unmapped memory, and never later, so
 * publish stops waiting as soon as nothing here can write). */
#include <string.h>

#include "native.h"

typedef struct {
  PyObject_HEAD
  shmarray_output *out;
  int finished; /* finish() succeeded: the pages are read-only */
} OutputObject;

static PyTypeObject *Output_Type;

static int output_getbuffer(PyObject *self, Py_buffer *view, int flags) {
  OutputObject *o = (OutputObject *)self;
  size_t len = 0;
  void *data = shmarray_output_data(o->out, &len);
  static char empty;
  /* After finish the pages are read-only: a writable view would fault at
   * its first write, so none is made (BufferError for PyBUF_WRITABLE). */
  return PyBuffer_FillInfo(view, self, data ? data : &empty, (Py_ssize_t)len, o->finished, flags);
}

static void output_dealloc(PyObject *self) {
  shmarray_output_close(((OutputObject *)self)->out);
  native_free(self);
}

static PyObject *output_finish(PyObject *self, PyObject *unused) {
  (void)unused;
  char err[NATIVE_ERR_LEN];
  int rc = shmarray_output_finish(((OutputObject *)self)->out, err, sizeof err);
  if (rc) return native_raise(rc, err);
  ((OutputObject *)self)->finished = 1;
  Py_RETURN_NONE;
}

static PyMethodDef output_methods[] = {
    {"finish", output_finish, METH_NOARGS,
     "finish(): end writing: the pages turn read-only and the lock is released (publish may\n"
     "proceed); views stay readable until the last of them is gone, and new views are\n"
     "read-only. Call it only when no writable view can be used any more: a write through\n"
     "one made before then faults. shmarray's own code never calls it."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot output_slots[] = {
    {Py_tp_methods, output_methods},
    {Py_bf_getbuffer, output_getbuffer},
    {Py_tp_new, native_new_refused},
    {Py_tp_dealloc, output_dealloc},
    {Py_tp_doc, "One array of an unpublished segment, mapped writable (output_open()). The\n"
                "mapping and the lock that holds off publish last as long as this object."},
    {0, NULL},
};

static PyType_Spec output_spec = {"shmarray._native.Output", sizeof(OutputObject), 0,
                                  Py_TPFLAGS_DEFAULT, output_slots};

static PyObject *output_open(PyObject *mod, PyObject *arg) {
  (void)mod;
  if (!PyUnicode_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "output_open takes the token, a str");
    return NULL;
  }
  Py_ssize_t n;
  const char *token = PyUnicode_AsUTF8AndSize(arg, &n);
  if (!token) return NULL;
  if ((size_t)n != strlen(token)) {
    return native_raisef(SHMARRAY_INVALID_ARGUMENT,
                         "output token holds a NUL byte (pass the token Builder.output made, unchanged)");
  }
  char err[NATIVE_ERR_LEN];
  shmarray_output *out = NULL;
  int rc = shmarray_output_open(token, &out, err, sizeof err);
  if (rc) return native_raise(rc, err);
  OutputObject *o = PyObject_New(OutputObject, Output_Type);
  if (!o) {
    shmarray_output_close(out);
    return NULL;
  }
  o->out = out;
  o->finished = 0;
  return (PyObject *)o;
}

static PyMethodDef output_functions[] = {
    {"output_open", output_open, METH_O,
     "output_open(token: str) -> Output: open the output an output token names (spec §10.6):\n"
     "checked, locked shared, the array mapped writable; export it as a writable buffer."},
    {NULL, NULL, 0, NULL},
};

int native_output_init(PyObject *m) {
  Output_Type = (PyTypeObject *)PyType_FromSpec(&output_spec);
  if (!Output_Type) return -1;
  Py_INCREF(Output_Type);
  if (PyModule_AddObject(m, "Output", (PyObject *)Output_Type) < 0) return -1;
  return PyModule_AddFunctions(m, output_functions);
}
