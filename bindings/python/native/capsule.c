/* The requested_schema of the Arrow PyCapsule Interface: shmarray exports
 * its arrays as they are stored, zero-copy, and never casts. A consumer may
 * still pass a schema (pyarrow does for pa.table(seg, schema=...)); one that
 * asks for the very schema of the export is served, any other is refused
 * with the first difference named, so that the consumer casts after import
 * instead of receiving something it did not ask for. The comparison is
 * structural: field names, formats and children; metadata and the nullable
 * flag are not part of a request's meaning here (the export carries its own). */
#include <string.h>

#include "native.h"

/* The ArrowSchema in a capsule called "arrow_schema", or in what an object's
 * __arrow_c_schema__ returns; *hold keeps that capsule alive. NULL with an
 * error. */
static const struct ArrowSchema *schema_of(PyObject *obj, PyObject **hold) {
  *hold = NULL;
  if (!PyCapsule_CheckExact(obj)) {
    PyObject *meth = PyObject_GetAttrString(obj, "__arrow_c_schema__");
    if (!meth) {
      PyErr_Clear();
      PyObject *t = native_type_name(obj);
      if (t) {
        native_raisef(SHMARRAY_INVALID_ARGUMENT,
                      "requested_schema must be an arrow_schema PyCapsule or have __arrow_c_schema__, "
                      "not %U",
                      t);
        Py_DECREF(t);
      }
      return NULL;
    }
    obj = *hold = PyObject_CallObject(meth, NULL);
    Py_DECREF(meth);
    if (!obj) return NULL;
  }
  const struct ArrowSchema *s = PyCapsule_GetPointer(obj, "arrow_schema");
  if (!s) {
    Py_CLEAR(*hold);
    PyErr_Clear();
    native_raisef(SHMARRAY_INVALID_ARGUMENT, "requested_schema is a PyCapsule, but not one called \"arrow_schema\"");
    return NULL;
  }
  if (!s->release) {
    Py_CLEAR(*hold);
    native_raisef(SHMARRAY_INVALID_ARGUMENT, "requested_schema was already released");
    return NULL;
  }
  return s;
}

/* The first difference between what is exported (have) and what is asked
 * for (want), as a str, or None when they agree; NULL with an error. path is
 * the field's name in the message ("" at the top). depth bounds the walk:
 * a consumer's schema is trusted no more than it must be. */
static PyObject *difference(const struct ArrowSchema *have, const struct ArrowSchema *want, PyObject *path,
                            int depth) {
  if (depth > 64) return PyUnicode_FromString("the requested schema nests deeper than 64 levels");
  const char *hf = have->format ? have->format : "", *wf = want->format ? want->format : "";
  if (strcmp(hf, wf) != 0) {
    if (PyUnicode_GetLength(path) == 0)
      return PyUnicode_FromFormat("the export has Arrow format \"%s\", the request \"%s\"", hf, wf);
    return PyUnicode_FromFormat("field %R has Arrow format \"%s\", the request \"%s\"", path, hf, wf);
  }
  if ((have->dictionary == NULL) != (want->dictionary == NULL))
    return PyUnicode_FromFormat("field %R is %sdictionary-encoded in the request", path,
                                want->dictionary ? "" : "not ");
  if (have->n_children != want->n_children)
    return PyUnicode_FromFormat("%s%R has %lld fields, the request %lld",
                                PyUnicode_GetLength(path) ? "field " : "the export", path,
                                (long long)have->n_children, (long long)want->n_children);
  for (int64_t i = 0; i < have->n_children; i++) {
    const struct ArrowSchema *hc = have->children[i], *wc = want->children ? want->children[i] : NULL;
    if (!wc) return PyUnicode_FromString("the requested schema has a NULL child");
    const char *hn = hc->name ? hc->name : "", *wn = wc->name ? wc->name : "";
    /* Names of the list-like children ("item") are not compared: Arrow
     * implementations name them differently and ignore the name. */
    if (strcmp(hf, "+s") == 0 && strcmp(hn, wn) != 0)
      return PyUnicode_FromFormat("field %d is called \"%s\", the request calls it \"%s\"", (int)i, hn, wn);
    PyObject *child = PyUnicode_FromString(hn);
    if (!child) return NULL;
    PyObject *d = difference(hc, wc, child, depth + 1);
    Py_DECREF(child);
    if (d != Py_None) return d;
    Py_DECREF(d);
  }
  Py_RETURN_NONE;
}

/* schema_difference(exported, requested) -> str | None */
static PyObject *schema_difference(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *have_obj, *want_obj, *hold_have, *hold_want;
  if (!PyArg_ParseTuple(args, "OO:schema_difference", &have_obj, &want_obj)) return NULL;
  const struct ArrowSchema *have = schema_of(have_obj, &hold_have);
  if (!have) return NULL;
  const struct ArrowSchema *want = schema_of(want_obj, &hold_want);
  if (!want) {
    Py_XDECREF(hold_have);
    return NULL;
  }
  PyObject *top = PyUnicode_FromString("");
  PyObject *d = top ? difference(have, want, top, 0) : NULL;
  Py_XDECREF(top);
  Py_XDECREF(hold_have);
  Py_XDECREF(hold_want);
  return d;
}

static PyMethodDef functions[] = {
    {"schema_difference", schema_difference, METH_VARARGS,
     "schema_difference(exported, requested) -> str | None\n\n"
     "The first difference of field names, formats or children between two arrow_schema\n"
     "capsules (or objects with __arrow_c_schema__), or None when they agree."},
    {NULL, NULL, 0, NULL},
};

int native_capsule_init(PyObject *m) { return PyModule_AddFunctions(m, functions); }
