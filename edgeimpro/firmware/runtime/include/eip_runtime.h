/*
 * edgeimpro runtime: status codes shared by the kernels, the generated model code and the app.
 * C11, no allocation, fixed-width types. Every function that can fail returns an eip_status_t.
 */
#ifndef EIP_RUNTIME_H
#define EIP_RUNTIME_H

#include <stdint.h>

/* The names of the runtime's external symbols: empty here; in a folder written by `edgeimpro export
 * --target aot` it renames them after the model (kws_eip_conv2d), so exported models, each with its own
 * copy of the runtime, link into one program. Quote include: the copy beside this header wins. */
#include "eip_names.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a params struct in eip_kernels.h changes layout; generated code checks it. */
#define EIP_RUNTIME_ABI_VERSION 1

typedef enum {
    EIP_OK = 0,
    EIP_ERR_NULL_POINTER,   /* a required tensor or params pointer is NULL */
    EIP_ERR_BAD_SHAPE,      /* a dimension is zero, negative or inconsistent with another */
    EIP_ERR_BAD_PARAM,      /* a precomputed parameter is outside the range the arithmetic allows */
    EIP_ERR_SOFTMAX_SUM,    /* a softmax row's exponent sum reached 512 (TFLM aborts the process here) */
    EIP_ERR_ARENA,          /* the tensor arena is too small for the memory plan */
    EIP_ERR_VERSION,        /* generated model code built for another runtime ABI version */
    EIP_STATUS_COUNT        /* number of status codes; keep last */
} eip_status_t;

/* Human-readable text of a status; never NULL. */
const char *eip_status_str(eip_status_t status);

#ifdef __cplusplus
}
#endif

#endif /* EIP_RUNTIME_H */
