/* RELU6 (standalone), int8 (INT8_SEMANTICS §3.16): TFLM clamps the raw input codes to
 * [input zero point, input code of 6.0] and never reads the output quantization. */
#include "eip_kernels.h"
#include "fixedpoint.h"

eip_status_t eip_relu6(const eip_relu6_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->size <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (!eip_act_range_is_valid(p->lower, p->upper)) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int8_t)eip_min_i32(eip_max_i32(input[i], p->lower), p->upper);
    }
    return EIP_OK;
}
