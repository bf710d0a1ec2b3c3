/* The DLPack 1.0 structures (https://github.com/dmlc/dlpack, include/dlpack/dlpack.h,
 * Apache-2.0), declared here with fixed-width fields for the subset shmarray
 * exports: CPU tensors of integers and floats, read-only. The layout is the
 * ABI every consumer (NumPy >= 2.1, PyTorch, JAX, CuPy) reads; the enums of
 * the original are ints of C's enum size (int32_t on every ABI we build for). */
#ifndef SHMARRAY_DLPACK_H
#define SHMARRAY_DLPACK_H

#include <stdint.h>

#define SA_DLPACK_MAJOR 1
#define SA_DLPACK_MINOR 0

/* DLDeviceType */
#define SA_DL_CPU 1

/* DLDataTypeCode */
#define SA_DL_INT 0
#define SA_DL_UINT 1
#define SA_DL_FLOAT 2

/* DLManagedTensorVersioned.flags */
#define SA_DLPACK_FLAG_READ_ONLY (UINT64_C(1) << 0)

typedef struct {
  uint32_t major;
  uint32_t minor;
} sa_dl_version; /* DLPackVersion */

typedef struct {
  int32_t device_type; /* DLDeviceType */
  int32_t device_id;
} sa_dl_device; /* DLDevice */

typedef struct {
  uint8_t code; /* DLDataTypeCode */
  uint8_t bits;
  uint16_t lanes;
} sa_dl_dtype; /* DLDataType */

typedef struct {
  void *data;
  sa_dl_device device;
  int32_t ndim;
  sa_dl_dtype dtype;
  int64_t *shape;
  int64_t *strides; /* in elements */
  uint64_t byte_offset;
} sa_dl_tensor; /* DLTensor */

typedef struct sa_dl_managed_versioned {
  sa_dl_version version;
  void *manager_ctx;
  void (*deleter)(struct sa_dl_managed_versioned *self);
  uint64_t flags;
  sa_dl_tensor dl_tensor;
} sa_dl_managed_versioned; /* DLManagedTensorVersioned */

#endif
