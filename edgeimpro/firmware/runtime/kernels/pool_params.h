/*
 * The parameter check of MAX_POOL_2D and AVERAGE_POOL_2D, shared by the reference file and its Arm DSP and
 * Helium variants (arm_dsp/, arm_mve/) so all refuse exactly the same calls with the same status; the
 * variants' window walk.
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

/* The window of output (oy, ox) clipped to the image: rows [y0, y1), columns [x0, x1) (the Arm variants). */
typedef struct {
    int32_t y0, y1, x0, x1;
} eip_pool_window_t;

static inline eip_pool_window_t eip_pool_window(const eip_pool2d_params_t *p, int32_t oy, int32_t ox)
{
    const int32_t ys = oy * p->stride_h - p->pad_top, xs = ox * p->stride_w - p->pad_left;
    return (eip_pool_window_t){eip_max_i32(0, ys), eip_min_i32(p->in_h, ys + p->filter_h), eip_max_i32(0, xs),
                               eip_min_i32(p->in_w, xs + p->filter_w)};
}

#endif /* EIP_POOL_PARAMS_H */
