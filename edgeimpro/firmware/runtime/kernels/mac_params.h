/*
 * Parameter checks of the multiply-accumulate kernels, shared by the reference files and their Arm DSP
 * variants (arm_dsp/) so both refuse exactly the same calls with the same status.
 */
#ifndef EIP_MAC_PARAMS_H
#define EIP_MAC_PARAMS_H

#include "eip_kernels.h"
#include "fixedpoint.h"

/* Every channel's shift is one eip_mbqm handles, and the requantization kind is one the channels allow:
 * the faster kinds need no pre-shift (shift <= 0) and a non-negative multiplier (the generator proves the
 * rest, EIP_REQUANT_* in eip_kernels.h); the reference kernels check it too, so every set refuses alike. */
static inline eip_status_t eip_check_requant(int32_t kind, const int32_t *multiplier, const int32_t *shift,
                                             int32_t n)
{
    if (kind != EIP_REQUANT_GENERAL && kind != EIP_REQUANT_NO_PRESHIFT && kind != EIP_REQUANT_SMMULR) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t c = 0; c < n; ++c) {
        if (!eip_shift_is_valid(shift[c]) || (kind != EIP_REQUANT_GENERAL && (shift[c] > 0 || multiplier[c] < 0))) {
            return EIP_ERR_BAD_PARAM;
        }
    }
    return EIP_OK;
}

static inline eip_status_t eip_conv2d_check(const eip_conv2d_params_t *p, const int8_t *input,
                                            const int8_t *filter, const int8_t *output)
{
    if (p == 0 || input == 0 || filter == 0 || output == 0 || p->multiplier == 0 || p->shift == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->batches <= 0 || p->in_h <= 0 || p->in_w <= 0 || p->in_c <= 0 || p->out_h <= 0 || p->out_w <= 0 ||
        p->out_c <= 0 || p->filter_h <= 0 || p->filter_w <= 0 || p->filter_c <= 0 ||
        p->in_c % p->filter_c != 0 || p->out_c % (p->in_c / p->filter_c) != 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (p->stride_h <= 0 || p->stride_w <= 0 || p->dilation_h <= 0 || p->dilation_w <= 0 ||
        !eip_act_range_is_valid(p->act_min, p->act_max)) {
        return EIP_ERR_BAD_PARAM;
    }
    return eip_check_requant(p->requant, p->multiplier, p->shift, p->out_c);
}

static inline eip_status_t eip_depthwise_conv2d_check(const eip_depthwise_conv2d_params_t *p,
                                                      const int8_t *input, const int8_t *filter,
                                                      const int8_t *output)
{
    if (p == 0 || input == 0 || filter == 0 || output == 0 || p->multiplier == 0 || p->shift == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->batches <= 0 || p->in_h <= 0 || p->in_w <= 0 || p->in_c <= 0 || p->out_h <= 0 || p->out_w <= 0 ||
        p->depth_multiplier <= 0 || p->out_c != p->in_c * p->depth_multiplier || p->filter_h <= 0 ||
        p->filter_w <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (p->stride_h <= 0 || p->stride_w <= 0 || p->dilation_h <= 0 || p->dilation_w <= 0 ||
        !eip_act_range_is_valid(p->act_min, p->act_max)) {
        return EIP_ERR_BAD_PARAM;
    }
    return eip_check_requant(p->requant, p->multiplier, p->shift, p->out_c);
}

static inline eip_status_t eip_fully_connected_check(const eip_fully_connected_params_t *p,
                                                     const int8_t *input, const int8_t *weights,
                                                     const int8_t *output)
{
    if (p == 0 || input == 0 || weights == 0 || output == 0 || p->multiplier == 0 || p->shift == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->batches <= 0 || p->depth <= 0 || p->units <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (!eip_act_range_is_valid(p->act_min, p->act_max)) {
        return EIP_ERR_BAD_PARAM;
    }
    return eip_check_requant(p->requant, p->multiplier, p->shift, p->units);
}

#endif /* EIP_MAC_PARAMS_H */
