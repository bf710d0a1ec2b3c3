/* Declarations shared by the Go shims (exports.go) and their C wrappers
 * (sa_fork.c). Not installed: the public ABI is bindings/c/shmarray.h. */
#ifndef SA_WRITE_H
#define SA_WRITE_H

#include <stdint.h>
#include "shmarray.h" /* a link to bindings/c/shmarray.h, so that Go's build cache sees it */

/* A builder handle is a cgo.Handle of an *arena.Builder, boxed so that C
 * sees an opaque pointer. */
struct shmarray_builder {
  uintptr_t handle;
};

/* A receiver handle is a cgo.Handle of an *arena.Receiver, boxed likewise. */
struct shmarray_receiver {
  uintptr_t handle;
};

#endif
