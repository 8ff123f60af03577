/*
 * The reference MUL (INT8_SEMANTICS §3.7) in one place: its parameter check and its element loop, run by the
 * reference kernel and by the Arm DSP variant for what it does not specialise (broadcasting, and pre-shifts
 * beyond its proven bound), as add_ref.h does for ADD.
 */
#ifndef EIP_MUL_REF_H
#define EIP_MUL_REF_H

#include "eip_kernels.h"
#include "fixedpoint.h"
#include "nd_index.h"

static inline eip_status_t eip_mul_check(const eip_mul_params_t *p, const int8_t *input1, const int8_t *input2,
                                         const int8_t *output)
{
    if (p == 0 || input1 == 0 || input2 == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (eip_dims_size(p->dims) <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (!eip_shift_is_valid(p->shift) || !eip_act_range_is_valid(p->act_min, p->act_max)) {
        return EIP_ERR_BAD_PARAM;
    }
    return EIP_OK;
}

static inline int8_t eip_mul_one_ref(const eip_mul_params_t *p, int32_t x1, int32_t x2)
{
    const int32_t product = (x1 - p->in1_zp) * (x2 - p->in2_zp);
    return eip_requantize(product, p->multiplier, p->shift, p->out_zp, p->act_min, p->act_max);
}

/* Every element, broadcasting or not; the parameters have been checked (eip_mul_check). */
static inline void eip_mul_ref(const eip_mul_params_t *p, const int8_t *input1, const int8_t *input2,
                               int8_t *output)
{
    if (!p->broadcast) {
        const int32_t size = eip_dims_size(p->dims);
        for (int32_t i = 0; i < size; ++i) {
            output[i] = eip_mul_one_ref(p, input1[i], input2[i]);
        }
        return;
    }
    int32_t index[EIP_MAX_DIMS];
    eip_index_clear(index);
    int32_t i = 0;
    do {
        output[i++] = eip_mul_one_ref(p, input1[eip_index_offset(index, p->in1_strides)],
                                      input2[eip_index_offset(index, p->in2_strides)]);
    } while (eip_index_next(index, p->dims));
}

#endif /* EIP_MUL_REF_H */
