/*
 * MAX_POOL_2D and AVERAGE_POOL_2D, int8, Helium (MVE) variant: same results as ../pool2d.c. Max takes 16
 * channels per vector (VMAX on the codes themselves, from -128 as the reference); average sums four
 * channels per vector in int32 over the cells inside the image, then divides each lane as the reference
 * does (to nearest, ties away from zero: Helium has no vector division, and it runs once per output).
 */
#include <arm_mve.h>

#include "eip_kernels.h"
#include "../fixedpoint.h"
#include "../pool_params.h"

eip_status_t eip_max_pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output)
{
    const eip_status_t status = eip_pool2d_check(p, input, output);
    if (status != EIP_OK) {
        return status;
    }
    const int32_t ch = p->channels, row = p->in_w * ch;
    const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const eip_pool_window_t w = eip_pool_window(p, oy, ox);
                const int32_t y0 = w.y0, y1 = w.y1, x0 = w.x0, x1 = w.x1;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                for (int32_t c = 0; c < ch; c += 16) {
                    const mve_pred16_t lanes = vctp8q((uint32_t)(ch - c));
                    int8x16_t m = vdupq_n_s8(INT8_MIN);
                    for (int32_t y = y0; y < y1; ++y) {
                        const int8_t *src = in + y * row + x0 * ch + c;
                        for (int32_t x = x0; x < x1; ++x, src += ch) {
                            m = vmaxq_s8(m, vldrbq_z_s8(src, lanes));
                        }
                    }
                    vstrbq_p_s8(out + c, vminq_s8(vmaxq_s8(m, lo), hi), lanes);
                }
            }
        }
    }
    return EIP_OK;
}

eip_status_t eip_average_pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output)
{
    const eip_status_t status = eip_pool2d_check(p, input, output);
    if (status != EIP_OK) {
        return status;
    }
    const int32_t ch = p->channels, row = p->in_w * ch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const eip_pool_window_t w = eip_pool_window(p, oy, ox);
                const int32_t y0 = w.y0, y1 = w.y1, x0 = w.x0, x1 = w.x1;
                const int32_t count = (y1 - y0) * (x1 - x0);
                if (y1 <= y0 || x1 <= x0) {
                    return EIP_ERR_BAD_PARAM;   /* a window wholly in the padding, as the reference */
                }
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                for (int32_t c = 0; c < ch; c += 4) {
                    const mve_pred16_t lanes = vctp32q((uint32_t)(ch - c));
                    int32x4_t sum = vdupq_n_s32(0);
                    for (int32_t y = y0; y < y1; ++y) {
                        const int8_t *src = in + y * row + x0 * ch + c;
                        for (int32_t x = x0; x < x1; ++x, src += ch) {
                            sum = vaddq_s32(sum, vldrbq_z_s32(src, lanes));
                        }
                    }
                    int32_t acc[4];
                    vst1q_s32(acc, sum);
                    const int32_t n = ch - c < 4 ? ch - c : 4;
                    for (int32_t i = 0; i < n; ++i) {
                        const int32_t a = acc[i];
                        const int32_t mean = a > 0 ? (a + count / 2) / count : (a - count / 2) / count;
                        out[c + i] = (int8_t)eip_clamp_i32(mean, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
    return EIP_OK;
}
