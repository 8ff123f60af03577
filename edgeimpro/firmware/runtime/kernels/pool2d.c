/*
 * MAX_POOL_2D and AVERAGE_POOL_2D, int8 (INT8_SEMANTICS §3.4, §3.5): one window walk for both, on raw codes
 * (input and output share scale and zero point), then the clamp. Only the cells inside the image count:
 * max takes their largest code; average their mean, rounded to nearest with ties away from zero, and a
 * window entirely in the padding is a bad pad/stride (EIP_ERR_BAD_PARAM).
 */
#include "eip_kernels.h"
#include "fixedpoint.h"
#include "pool_params.h"

enum { POOL_MAX, POOL_AVERAGE };

static eip_status_t pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output, int kind)
{
    const eip_status_t status = eip_pool2d_check(p, input, output);
    if (status != EIP_OK) {
        return status;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t y_begin = eip_max_i32(0, y0);
            const int32_t y_end = eip_min_i32(p->in_h, y0 + p->filter_h);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t x_begin = eip_max_i32(0, x0);
                const int32_t x_end = eip_min_i32(p->in_w, x0 + p->filter_w);
                const int32_t count = (y_end - y_begin) * (x_end - x_begin);
                if (kind == POOL_AVERAGE && count <= 0) {
                    return EIP_ERR_BAD_PARAM;
                }
                for (int32_t c = 0; c < p->channels; ++c) {
                    int32_t acc = kind == POOL_MAX ? INT8_MIN : 0;
                    for (int32_t y = y_begin; y < y_end; ++y) {
                        for (int32_t x = x_begin; x < x_end; ++x) {
                            const int32_t v = input[((b * p->in_h + y) * p->in_w + x) * p->channels + c];
                            acc = kind == POOL_MAX ? eip_max_i32(acc, v) : acc + v;
                        }
                    }
                    if (kind == POOL_AVERAGE) {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    output[((b * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
                        (int8_t)eip_clamp_i32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
    return EIP_OK;
}

eip_status_t eip_max_pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output)
{
    return pool2d(p, input, output, POOL_MAX);
}

eip_status_t eip_average_pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output)
{
    return pool2d(p, input, output, POOL_AVERAGE);
}
