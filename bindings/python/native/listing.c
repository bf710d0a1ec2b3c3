/* Listing, unlinking and gc of a segment directory (sa_list.c), for
 * shmarray.list_segments, shmarray.unlink and shmarray.gc. */
#include <stdlib.h>

#include "native.h"

/* (name, size, arrays, created_ns, creator_pid, creator_alive, ephemeral,
 * status, message, temp) of one entry. */
static PyObject *entry(const sa_listed *l) {
  const shmarray_list_entry *e = &l->e;
  return Py_BuildValue("(sLILkOOisO)", e->name, (long long)e->size, (unsigned)e->array_count,
                       (long long)e->created_ns, (unsigned long)e->creator_pid,
                       e->creator_alive ? Py_True : Py_False, e->ephemeral ? Py_True : Py_False,
                       e->status, l->message, l->temp ? Py_True : Py_False);
}

static PyObject *entries(const sa_listed *list, size_t n) {
  PyObject *out = PyList_New((Py_ssize_t)n);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    PyObject *t = entry(&list[i]);
    if (!t) {
      Py_DECREF(out);
      return NULL;
    }
    PyList_SetItem(out, (Py_ssize_t)i, t);
  }
  return out;
}

static PyObject *native_list(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *dir_obj = Py_None;
  if (!PyArg_ParseTuple(args, "|O:list_segments", &dir_obj)) return NULL;
  const char *dir;
  if (native_dir_arg(dir_obj, &dir) < 0) return NULL;
  sa_listed *list = NULL;
  size_t n = 0;
  char err[NATIVE_ERR_LEN];
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = sa_list_dir(dir, &list, &n, err, sizeof err);
  Py_END_ALLOW_THREADS
  if (rc) return native_raise(rc, err);
  PyObject *out = entries(list, n);
  free(list);
  return out;
}

/* gc(dir, dry_run) -> (removed entries, code, message): gc goes on past
 * errors and reports the first, with what it did remove. */
static PyObject *native_gc(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *dir_obj = Py_None;
  int dry_run = 0;
  if (!PyArg_ParseTuple(args, "|Op:gc", &dir_obj, &dry_run)) return NULL;
  const char *dir;
  if (native_dir_arg(dir_obj, &dir) < 0) return NULL;
  sa_listed *list = NULL;
  size_t n = 0;
  char err[NATIVE_ERR_LEN] = "";
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = sa_gc_dir(dir, dry_run, &list, &n, err, sizeof err);
  Py_END_ALLOW_THREADS
  PyObject *out = entries(list, n);
  free(list);
  if (!out) return NULL;
  return Py_BuildValue("(Nis)", out, rc, err);
}

static PyObject *native_unlink(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *name_obj, *dir_obj = Py_None;
  if (!PyArg_ParseTuple(args, "O|O:unlink", &name_obj, &dir_obj)) return NULL;
  const char *name = native_name_arg(name_obj);
  if (!name) return NULL;
  const char *dir;
  if (native_dir_arg(dir_obj, &dir) < 0) return NULL;
  char err[NATIVE_ERR_LEN];
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = shmarray_unlink(name, dir, err, sizeof err);
  Py_END_ALLOW_THREADS
  if (rc) return native_raise(rc, err);
  Py_RETURN_NONE;
}

static PyObject *native_resolve_dir(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *dir_obj = Py_None;
  if (!PyArg_ParseTuple(args, "|O:resolve_dir", &dir_obj)) return NULL;
  const char *dir;
  if (native_dir_arg(dir_obj, &dir) < 0) return NULL;
  return PyUnicode_DecodeFSDefault(sa_resolve_dir(dir));
}

static PyMethodDef functions[] = {
    {"list_segments", native_list, METH_VARARGS,
     "list_segments(dir=None) -> list of (name, size, arrays, created_ns, creator_pid, "
     "creator_alive, ephemeral, status, message, temp)."},
    {"gc", native_gc, METH_VARARGS, "gc(dir=None, dry_run=False) -> (removed entries, code, message)."},
    {"unlink", native_unlink, METH_VARARGS, "unlink(name, dir=None): remove a segment's name."},
    {"resolve_dir", native_resolve_dir, METH_VARARGS,
     "resolve_dir(dir=None) -> str: dir, else $SHMARRAY_DIR, else /dev/shm (spec §2.2)."},
    {NULL, NULL, 0, NULL},
};

int native_listing_init(PyObject *m) { return PyModule_AddFunctions(m, functions); }
