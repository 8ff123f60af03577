/*
 * The reference DEPTHWISE_CONV_2D loop over one batch (INT8_SEMANTICS §3.2), in one place: the reference
 * kernel runs it for every batch, and the Arm DSP variant for what it does not specialise (depth multiplier
 * > 1, very large filters), as TFLM's optimized kernels fall back to its reference ops.
 */
#ifndef EIP_DEPTHWISE_CONV2D_REF_H
#define EIP_DEPTHWISE_CONV2D_REF_H

#include "eip_kernels.h"
#include "fixedpoint.h"

/* `in` and `out` point at one batch; the parameters have been checked (eip_depthwise_conv2d_check). */
static inline void eip_depthwise_conv2d_batch_ref(const eip_depthwise_conv2d_params_t *p, const int8_t *in,
                                                  const int8_t *filter, const int32_t *bias, int8_t *out)
{
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_left;
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int32_t ic = oc / p->depth_multiplier;
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t iy = in_y0 + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t ix = in_x0 + kx * p->dilation_w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const int32_t x = in[(iy * p->in_w + ix) * p->in_c + ic];
                        const int32_t w = filter[(ky * p->filter_w + kx) * p->out_c + oc];
                        acc = eip_add_wrap(acc, w * (x - p->in_zp));
                    }
                }
                if (bias != 0) {
                    acc = eip_add_wrap(acc, bias[oc]);
                }
                out[(oy * p->out_w + ox) * p->out_c + oc] =
                    eip_requantize(acc, p->multiplier[oc], p->shift[oc], p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}

#endif
