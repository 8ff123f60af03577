/* MEAN, int8 (INT8_SEMANTICS §3.8): raw sum minus count * zero point, one requantization that
 * already includes the division by the count. No activation. */
#include "eip_kernels.h"
#include "fixedpoint.h"
#include "nd_index.h"

eip_status_t eip_mean(const eip_mean_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    const int32_t reduced = eip_dims_size(p->reduce_dims);
    if (eip_dims_size(p->out_dims) <= 0 || reduced <= 0 || reduced != p->count) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (!eip_shift_is_valid(p->shift)) {
        return EIP_ERR_BAD_PARAM;
    }
    int32_t out_index[EIP_MAX_DIMS];
    int32_t reduce_index[EIP_MAX_DIMS];
    eip_index_clear(out_index);
    int32_t o = 0;
    do {
        const int8_t *base = input + eip_index_offset(out_index, p->out_strides);
        int32_t sum = 0;
        eip_index_clear(reduce_index);
        do {
            sum = eip_add_wrap(sum, base[eip_index_offset(reduce_index, p->reduce_strides)]);
        } while (eip_index_next(reduce_index, p->reduce_dims));
        /* sum - in_zp * count, wrapping as TFLM's int32 arithmetic would (only beyond 2^24 elements) */
        const int32_t offset = (int32_t)((uint32_t)sum - (uint32_t)p->in_zp * (uint32_t)p->count);
        output[o++] = eip_requantize(offset, p->multiplier, p->shift, p->out_zp, INT8_MIN, INT8_MAX);
    } while (eip_index_next(out_index, p->out_dims));
    return EIP_OK;
}
