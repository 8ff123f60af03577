/*
 * The parameter check of MAX_POOL_2D and AVERAGE_POOL_2D, shared by the reference file and its Helium
 * variant (arm_mve/) so both refuse exactly the same calls with the same status.
 */
#ifndef EIP_POOL_PARAMS_H
#define EIP_POOL_PARAMS_H

#include "eip_kernels.h"
#include "fixedpoint.h"

static inline eip_status_t eip_pool2d_check(const eip_pool2d_params_t *p, const int8_t *input, const int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->batches <= 0 || p->in_h <= 0 || p->in_w <= 0 || p->channels <= 0 || p->out_h <= 0 ||
        p->out_w <= 0 || p->filter_h <= 0 || p->filter_w <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (p->stride_h <= 0 || p->stride_w <= 0 || !eip_act_range_is_valid(p->act_min, p->act_max)) {
        return EIP_ERR_BAD_PARAM;
    }
    return EIP_OK;
}

#endif /* EIP_POOL_PARAMS_H */
