/*
 * The reference ADD (INT8_SEMANTICS §3.6) in one place: its parameter check and its element loop, run by the
 * reference kernel and by the Arm DSP variant for what it does not specialise (broadcasting, and parameters
 * outside its proven bounds), as mac_params.h and depthwise_conv2d_ref.h do for the MAC kernels.
 */
#ifndef EIP_ADD_REF_H
#define EIP_ADD_REF_H

#include "eip_kernels.h"
#include "fixedpoint.h"
#include "nd_index.h"

static inline eip_status_t eip_add_check(const eip_add_params_t *p, const int8_t *input1, const int8_t *input2,
                                         const int8_t *output)
{
    if (p == 0 || input1 == 0 || input2 == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (eip_dims_size(p->dims) <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    /* shifts must be <= 0 and the 2^left_shift pre-scale must keep 255 * 2^left_shift in int32 */
    if (p->left_shift < 0 || p->left_shift > 22 || p->in1_shift > 0 || p->in2_shift > 0 || p->out_shift > 0 ||
        !eip_shift_is_valid(p->in1_shift) || !eip_shift_is_valid(p->in2_shift) ||
        !eip_shift_is_valid(p->out_shift) || !eip_act_range_is_valid(p->act_min, p->act_max)) {
        return EIP_ERR_BAD_PARAM;
    }
    return EIP_OK;
}

static inline int8_t eip_add_one_ref(const eip_add_params_t *p, int32_t x1, int32_t x2)
{
    const int32_t a1 = eip_mbqm((x1 - p->in1_zp) * (1 << p->left_shift), p->in1_multiplier, p->in1_shift);
    const int32_t a2 = eip_mbqm((x2 - p->in2_zp) * (1 << p->left_shift), p->in2_multiplier, p->in2_shift);
    const int32_t out = eip_mbqm(a1 + a2, p->out_multiplier, p->out_shift) + p->out_zp;
    return (int8_t)eip_clamp_i32(out, p->act_min, p->act_max);
}

/* Every element, broadcasting or not; the parameters have been checked (eip_add_check). */
static inline void eip_add_ref(const eip_add_params_t *p, const int8_t *input1, const int8_t *input2,
                               int8_t *output)
{
    if (!p->broadcast) {
        const int32_t size = eip_dims_size(p->dims);
        for (int32_t i = 0; i < size; ++i) {
            output[i] = eip_add_one_ref(p, input1[i], input2[i]);
        }
        return;
    }
    int32_t index[EIP_MAX_DIMS];
    eip_index_clear(index);
    int32_t i = 0;
    do {
        output[i++] = eip_add_one_ref(p, input1[eip_index_offset(index, p->in1_strides)],
                                      input2[eip_index_offset(index, p->in2_strides)]);
    } while (eip_index_next(index, p->dims));
}

#endif /* EIP_ADD_REF_H */
