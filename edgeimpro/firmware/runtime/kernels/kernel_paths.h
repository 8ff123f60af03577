/*
 * The kernel paths a model's layers take: eip_model_kernels.h, generated beside model.c
 * (edgeimpro/codegen/aot.py, kernel_paths), when it is on the include path. The Arm kernels build only those
 * paths and refuse a layer that needs another (EIP_ERR_BAD_PARAM: model code generated for another model).
 * Without the header (the kernel tests, a runtime built on its own) every path is built.
 */
#ifndef EIP_KERNEL_PATHS_H
#define EIP_KERNEL_PATHS_H

#if defined(__has_include)
#if __has_include("eip_model_kernels.h")
#include "eip_model_kernels.h"
#endif
#endif

/* every path, for a fact the header does not state (or without it) */
#ifndef EIP_MODEL_CONV_REQUANTS
#define EIP_MODEL_CONV_REQUANTS 7
#endif
#ifndef EIP_MODEL_CONV_CLAMPS
#define EIP_MODEL_CONV_CLAMPS 1
#endif
#ifndef EIP_MODEL_CONV_DIRECT
#define EIP_MODEL_CONV_DIRECT 1
#endif
#ifndef EIP_MODEL_DEPTHWISE_REQUANTS
#define EIP_MODEL_DEPTHWISE_REQUANTS 7
#endif
#ifndef EIP_MODEL_DEPTHWISE_CLAMPS
#define EIP_MODEL_DEPTHWISE_CLAMPS 1
#endif
#ifndef EIP_MODEL_DEPTHWISE_GENERAL
#define EIP_MODEL_DEPTHWISE_GENERAL 1
#endif
#ifndef EIP_MODEL_FULLY_CONNECTED_REQUANTS
#define EIP_MODEL_FULLY_CONNECTED_REQUANTS 7
#endif
#ifndef EIP_MODEL_FULLY_CONNECTED_CLAMPS
#define EIP_MODEL_FULLY_CONNECTED_CLAMPS 1
#endif

/* Whether a layer of a model whose OP layers use the requantizations of mask `built` (1 << EIP_REQUANT_*) can
 * run here: its own requantization is one of them. */
#define EIP_REQUANT_BUILT(built, kind) ((kind) >= 0 && (kind) <= 2 && (((built) >> (kind)) & 1) != 0)

#endif /* EIP_KERNEL_PATHS_H */
