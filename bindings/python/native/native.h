/* shmarray._native: the CPython extension over the plain-C reader core
 * (capi/sa_*.c, compiled into this module from the same files). It holds
 * no format rule of its own: every check is the core's; this layer converts
 * between Python objects and the core's calls, and ties the lifetime of the
 * mapping to the Python objects that point into it.
 *
 * Limited API (abi3) of Python 3.9, so one binary serves every CPython from
 * 3.9 on; buffers reach Python through the buffer protocol (a Mapping
 * object exports the whole mapping, read-only), never through the NumPy C
 * API. No Go is linked in: everything here works in a process forked after
 * its parent loaded libshmarray.so.
 *
 * Lifetime: the core's segment (shmarray_segment) is reference counted.
 * A Handle holds one reference until close(), then only a pin of the
 * decoded directory (so names and descriptions stay readable after close,
 * while the pages go with the last view). The handle's Mapping object
 * (Handle.memory(), one per handle) holds another until it is deallocated,
 * and it is the exporting object of every memoryview, NumPy array and
 * pyarrow buffer made from it, each of which keeps it alive: so the pages
 * stay mapped while any view exists, and never longer. An Index, a
 * StringColumn and every exported Arrow structure hold their own. */
#ifndef SHMARRAY_NATIVE_H
#define SHMARRAY_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sa_internal.h"

#if Py_LIMITED_API + 0 < 0x030A0000
/* In the limited API from 3.10 on; exported, with this signature, by every
 * CPython since 3.3. Used for str keys and names without a copy. */
PyAPI_FUNC(const char *) PyUnicode_AsUTF8AndSize(PyObject *unicode, Py_ssize_t *size);
#endif

#if Py_LIMITED_API + 0 < 0x030B0000
/* The buffer protocol joined the limited API in 3.11, with the Py_buffer
 * that every CPython since 3.3 lays out the same way and the slot number of
 * typeslots.h (part of the stable ABI, never renumbered), which 3.9's
 * PyType_FromSpec already honours. The same definitions, so that a module
 * built for 3.9 can export a buffer. */
typedef struct {
  void *buf;
  PyObject *obj;
  Py_ssize_t len;
  Py_ssize_t itemsize;
  int readonly;
  int ndim;
  char *format;
  Py_ssize_t *shape;
  Py_ssize_t *strides;
  Py_ssize_t *suboffsets;
  void *internal;
} Py_buffer;
PyAPI_FUNC(int) PyBuffer_FillInfo(Py_buffer *view, PyObject *o, void *buf, Py_ssize_t len,
                                  int readonly, int flags);
#ifndef Py_bf_getbuffer
#define Py_bf_getbuffer 1
#endif
#ifndef PyBUF_WRITABLE
#define PyBUF_WRITABLE 0x0001
#endif
#endif

/* Messages of the core fit here, quoted names and paths included. */
#define NATIVE_ERR_LEN 16384

/* Raises the shmarray exception for a core code with its message (one
 * class per code, from shmarray._errors); returns NULL. */
/* A message of the core as str (UTF-8; a character cut by truncation is replaced). */
PyObject *native_message(const char *message);
PyObject *native_raise(int code, const char *message);
/* The same for a message built here: "shmarray: <code text>: " + text. */
PyObject *native_raisef(int code, const char *fmt, ...);

/* The segment handle (handle.c). */
typedef struct {
  PyObject_HEAD
  shmarray_segment *seg; /* a reference while open, a pin once closed */
  int closed;
  PyObject *name, *dir, *path;
  PyObject *memory; /* the Mapping exporter, or NULL until asked for */
} HandleObject;

extern PyTypeObject *Handle_Type, *Mapping_Type, *Index_Type, *StringColumn_Type;

int native_handle_init(PyObject *module);
int native_index_init(PyObject *module);
int native_strings_init(PyObject *module);
int native_listing_init(PyObject *module);
int native_output_init(PyObject *module);
int native_capsule_init(PyObject *module); /* capsule.c: requested_schema */
int native_dlpack_init(PyObject *module);  /* dlpack.c: DLPack 1.0 export */

/* The open segment of a handle, or NULL with ClosedError set. */
shmarray_segment *native_segment(HandleObject *h);
/* The decoded directory of a handle, open or closed (never NULL). */
shmarray_segment *native_directory(HandleObject *h);

/* The array index i of the handle's segment, checked: -1 with an error. */
Py_ssize_t native_array_index(shmarray_segment *seg, PyObject *i);

/* New Index / StringColumn of array i (index.c, strings.c). */
PyObject *native_index_new(PyTypeObject *type, shmarray_segment *seg, size_t i);
PyObject *native_strings_new(PyTypeObject *type, shmarray_segment *seg, size_t i);

/* The directory of a call, resolved (spec §2.2: the argument, else
 * $SHMARRAY_DIR, else /dev/shm) while the GIL is held: UTF-8 owned by the
 * object or the environment. -1 with an error. */
int native_dir_arg(PyObject *obj, const char **out);

/* The name of obj's type, a new str (the limited API of 3.9 has no
 * tp_name); for %U in messages. */
PyObject *native_type_name(PyObject *obj);

/* The UTF-8 of a segment name argument (owned by the object), or NULL with
 * INVALID_ARGUMENT set: not a str, not encodable, or holding a NUL. */
const char *native_name_arg(PyObject *name);

/* tp_new of the types Python code may not instantiate. */
PyObject *native_new_refused(PyTypeObject *type, PyObject *args, PyObject *kwargs);

/* Frees a heap-type instance and drops its reference to its type. */
void native_free(PyObject *self);

#endif
