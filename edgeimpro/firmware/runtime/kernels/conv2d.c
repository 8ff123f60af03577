/* CONV_2D, int8 (INT8_SEMANTICS §3.1): per-channel requantization, grouped filters, dilation. The int32
 * sum wraps around as TFLM's does when a degenerate model overflows it (eip_add_wrap). */
#include "eip_kernels.h"
#include "mac_params.h"
#include "fixedpoint.h"

eip_status_t eip_conv2d(const eip_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_conv2d_check(p, input, filter, output);
    if (status != EIP_OK) {
        return status;
    }
    const int32_t groups = p->in_c / p->filter_c;
    const int32_t out_c_per_group = p->out_c / groups;

    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    const int32_t in_c0 = (oc / out_c_per_group) * p->filter_c;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue; /* padded rows hold the zero point: they add nothing */
                        }
                        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            const int8_t *in = input + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c + in_c0;
                            const int8_t *w = filter + ((oc * p->filter_h + ky) * p->filter_w + kx) * p->filter_c;
                            for (int32_t ci = 0; ci < p->filter_c; ++ci) {
                                acc = eip_add_wrap(acc, (int32_t)w[ci] * ((int32_t)in[ci] - p->in_zp));
                            }
                        }
                    }
                    if (bias != 0) {
                        acc = eip_add_wrap(acc, bias[oc]);
                    }
                    output[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] =
                        eip_requantize(acc, p->multiplier[oc], p->shift[oc], p->out_zp, p->act_min, p->act_max);
                }
            }
        }
    }
    return EIP_OK;
}
