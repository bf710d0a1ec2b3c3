/* Listing, unlinking and gc of a segment directory (sa_list.c), for
 * shmarray.list_segments, shmarray.unlink and shmarray.gc. */
#include <stdlib.h>

#include "native.h"

/* (name, size, arrays, created_ns, creator_pid, creator_alive, ephemeral,
 * status, message, temp, creator_unknown, id, version, building) of one
 * entry. */
static PyObject *entry(const sa_listed *l) {
  const shmarray_list_entry *e = &l->e;
  /* A temporary file's name may hold any bytes after its prefix: decoded as
   * os.listdir decodes names. */
  return Py_BuildValue("(NLILkOOiNOOy#KO)", PyUnicode_DecodeFSDefault(e->name), (long long)e->size,
                       (unsigned)e->array_count, (long long)e->created_ns,
                       (unsigned long)e->creator_pid, e->creator_alive ? Py_True : Py_False,
                       e->ephemeral ? Py_True : Py_False, e->status, native_message(l->message),
                       l->temp ? Py_True : Py_False,
                       e->creator_unknown ? Py_True : Py_False, (const char *)e->id,
                       (Py_ssize_t)SA_ID_LEN, (unsigned long long)e->version,
                       e->building ? Py_True : Py_False);
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

/* list_segments(dir) -> (absolute dir, entries). */
static PyObject *native_list(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *dir_obj = Py_None;
  if (!PyArg_ParseTuple(args, "|O:list_segments", &dir_obj)) return NULL;
  const char *dir;
  if (native_dir_arg(dir_obj, &dir) < 0) return NULL;
  sa_listed *list = NULL;
  size_t n = 0;
  char *abs = NULL;
  char err[NATIVE_ERR_LEN];
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = sa_list_dir(dir, &list, &n, &abs, err, sizeof err);
  Py_END_ALLOW_THREADS
  if (rc) return native_raise(rc, err);
  PyObject *out = entries(list, n);
  free(list);
  PyObject *d = out ? PyUnicode_DecodeFSDefault(abs) : NULL;
  free(abs);
  if (!d) {
    Py_XDECREF(out);
    return NULL;
  }
  return Py_BuildValue("(NN)", d, out);
}

/* gc(dir, dry_run) -> (absolute dir or None, removed entries, code,
 * message, failures): gc goes on past the files it cannot remove and
 * reports each as (code, message); code and message are those of the
 * directory's error, or of the first failure (message: every failure, one
 * per line). */
static PyObject *native_gc(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *dir_obj = Py_None;
  int dry_run = 0;
  if (!PyArg_ParseTuple(args, "|Op:gc", &dir_obj, &dry_run)) return NULL;
  const char *dir;
  if (native_dir_arg(dir_obj, &dir) < 0) return NULL;
  sa_gc_result r;
  char err[NATIVE_ERR_LEN] = "";
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = sa_gc_dir(dir, dry_run, &r, err, sizeof err);
  Py_END_ALLOW_THREADS
  PyObject *removed = entries(r.removed, r.count);
  PyObject *failures = removed ? PyList_New((Py_ssize_t)r.failure_count) : NULL;
  for (size_t i = 0; failures && i < r.failure_count; i++) {
    PyObject *f = Py_BuildValue("(iN)", r.failures[i].code, native_message(r.failures[i].message));
    if (!f) {
      Py_CLEAR(failures);
      break;
    }
    PyList_SetItem(failures, (Py_ssize_t)i, f);
  }
  PyObject *d = NULL;
  if (failures) {
    if (r.dir) {
      d = PyUnicode_DecodeFSDefault(r.dir);
    } else {
      Py_INCREF(Py_None);
      d = Py_None;
    }
  }
  sa_gc_result_free(&r);
  if (!d) {
    Py_XDECREF(removed);
    Py_XDECREF(failures);
    return NULL;
  }
  return Py_BuildValue("(NNiNN)", d, removed, rc, native_message(err), failures);
}

/* unlink(name, dir=None, id=None): with id (16 bytes), only while the name
 * holds the segment with that id (shmarray_unlink_version): StaleSegmentError
 * otherwise. */
static PyObject *native_unlink(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *name_obj, *dir_obj = Py_None;
  const char *id = NULL;
  Py_ssize_t id_len = SA_ID_LEN;
  if (!PyArg_ParseTuple(args, "O|Oz#:unlink", &name_obj, &dir_obj, &id, &id_len)) return NULL;
  if (id && id_len != SA_ID_LEN)
    return native_raisef(SHMARRAY_INVALID_ARGUMENT, "a segment id is 16 bytes, not %zd", id_len);
  const char *name = native_name_arg(name_obj);
  if (!name) return NULL;
  const char *dir;
  if (native_dir_arg(dir_obj, &dir) < 0) return NULL;
  char err[NATIVE_ERR_LEN];
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = id ? shmarray_unlink_version(name, dir, (const uint8_t *)id, err, sizeof err)
          : shmarray_unlink(name, dir, err, sizeof err);
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
  return PyUnicode_DecodeFSDefault(dir);
}

static PyMethodDef functions[] = {
    {"list_segments", native_list, METH_VARARGS,
     "list_segments(dir=None) -> (absolute dir, list of (name, size, arrays, created_ns, "
     "creator_pid, creator_alive, ephemeral, status, message, temp, creator_unknown, id, "
     "version))."},
    {"gc", native_gc, METH_VARARGS,
     "gc(dir=None, dry_run=False) -> (absolute dir or None, removed entries, code, message, "
     "[(code, message) per file not removed])."},
    {"unlink", native_unlink, METH_VARARGS,
     "unlink(name, dir=None, id=None): remove a segment's name; with id (16 bytes), only while\n"
     "the name holds the segment with that id."},
    {"resolve_dir", native_resolve_dir, METH_VARARGS,
     "resolve_dir(dir=None) -> str: dir, else $SHMARRAY_DIR, else /dev/shm (spec §2.2)."},
    {NULL, NULL, 0, NULL},
};

int native_listing_init(PyObject *m) { return PyModule_AddFunctions(m, functions); }
