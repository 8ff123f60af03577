/*
 * The generated model's API (docs/aot-model-api.md): what model.h declares, shared by the firmware app,
 * host runners and the code generator. Generated model.h (or NAME.h of an export with --name) includes
 * this file and adds the EIP_MODEL_* (NAME_*) macros.
 */
#ifndef EIP_MODEL_API_H
#define EIP_MODEL_API_H

#include <stdint.h>

#include "eip_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EIP_MAX_RANK 6

/* Shape and quantization of one model input or output (int8, NHWC). */
typedef struct {
    const char *name;
    uint8_t rank;
    int32_t dims[EIP_MAX_RANK];
    uint32_t bytes;
    float scale;
    int32_t zero_point;
} eip_tensor_info_t;

/* Called after every layer when built with -DEIP_LAYER_HOOK (profiling and layer dumps). */
typedef void (*eip_layer_hook_t)(int layer, int opcode, const int8_t *output, uint32_t bytes, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* EIP_MODEL_API_H */
