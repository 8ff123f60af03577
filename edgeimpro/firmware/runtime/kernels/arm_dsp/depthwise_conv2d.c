/*
 * DEPTHWISE_CONV_2D, int8, Arm DSP variant: same arithmetic as ../depthwise_conv2d.c (bit-exact).
 *
 * Depth multiplier 1: four channels at a time. SXTAB16 turns four input bytes into x - in_zp for channels
 * (0, 2) and (1, 3), SXTB16 does the same for four filter bytes, and SMLABB / SMLATT add one product each
 * to the four channel sums. The valid taps of an output pixel are listed once and shared by all its
 * channels. Other depth multipliers and filters with more taps than the list holds use the reference loop.
 */
#include "eip_kernels.h"
#include "../fixedpoint.h"
#include "simd.h"

#ifndef EIP_DSP_DEPTHWISE_TAPS_MAX
#define EIP_DSP_DEPTHWISE_TAPS_MAX 64
#endif

static eip_status_t check_params(const eip_depthwise_conv2d_params_t *p)
{
    if (p->batches <= 0 || p->in_h <= 0 || p->in_w <= 0 || p->in_c <= 0 || p->out_h <= 0 || p->out_w <= 0 ||
        p->depth_multiplier <= 0 || p->out_c != p->in_c * p->depth_multiplier || p->filter_h <= 0 ||
        p->filter_w <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (p->stride_h <= 0 || p->stride_w <= 0 || p->dilation_h <= 0 || p->dilation_w <= 0 ||
        !eip_act_range_is_valid(p->act_min, p->act_max)) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t c = 0; c < p->out_c; ++c) {
        if (!eip_shift_is_valid(p->shift[c])) {
            return EIP_ERR_BAD_PARAM;
        }
    }
    return EIP_OK;
}

static int8_t requantize(const eip_depthwise_conv2d_params_t *p, int32_t acc, const int32_t *bias, int32_t oc)
{
    if (bias != 0) {
        acc += bias[oc];
    }
    const int32_t out = eip_mbqm(acc, p->multiplier[oc], p->shift[oc]) + p->out_zp;
    return (int8_t)eip_clamp_i32(out, p->act_min, p->act_max);
}

/* The reference loop, for any depth multiplier. */
static void depthwise_direct(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                             const int32_t *bias, int8_t *out)
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
                        acc += w * (x - p->in_zp);
                    }
                }
                out[(oy * p->out_w + ox) * p->out_c + oc] = requantize(p, acc, bias, oc);
            }
        }
    }
}

/* Depth multiplier 1 (out_c == in_c). */
static void depthwise_simd(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                           const int32_t *bias, int8_t *out)
{
    const int32_t channels = p->in_c;
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    int32_t in_offset[EIP_DSP_DEPTHWISE_TAPS_MAX];
    int32_t filter_offset[EIP_DSP_DEPTHWISE_TAPS_MAX];
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_left;
            int32_t taps = 0;
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
                    in_offset[taps] = (iy * p->in_w + ix) * channels;
                    filter_offset[taps] = (ky * p->filter_w + kx) * channels;
                    ++taps;
                }
            }
            int8_t *o = out + (oy * p->out_w + ox) * channels;
            int32_t c = 0;
            for (; c + 4 <= channels; c += 4) {
                int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
                for (int32_t t = 0; t < taps; ++t) {
                    const int32_t x = eip_load_s8x4(in + in_offset[t] + c);
                    const int32_t w = eip_load_s8x4(filter + filter_offset[t] + c);
                    const int32_t x02 = __sxtab16(minus_zp, x), x13 = __sxtab16(minus_zp, eip_odd_bytes(x));
                    const int32_t w02 = __sxtb16(w), w13 = __sxtb16(eip_odd_bytes(w));
                    acc0 = __smlabb(w02, x02, acc0);
                    acc2 = __smlatt(w02, x02, acc2);
                    acc1 = __smlabb(w13, x13, acc1);
                    acc3 = __smlatt(w13, x13, acc3);
                }
                o[c] = requantize(p, acc0, bias, c);
                o[c + 1] = requantize(p, acc1, bias, c + 1);
                o[c + 2] = requantize(p, acc2, bias, c + 2);
                o[c + 3] = requantize(p, acc3, bias, c + 3);
            }
            for (; c < channels; ++c) {
                int32_t acc = 0;
                for (int32_t t = 0; t < taps; ++t) {
                    acc += (int32_t)filter[filter_offset[t] + c] * ((int32_t)in[in_offset[t] + c] - p->in_zp);
                }
                o[c] = requantize(p, acc, bias, c);
            }
        }
    }
}

eip_status_t eip_depthwise_conv2d(const eip_depthwise_conv2d_params_t *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, int8_t *output)
{
    if (p == 0 || input == 0 || filter == 0 || output == 0 || p->multiplier == 0 || p->shift == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    const eip_status_t status = check_params(p);
    if (status != EIP_OK) {
        return status;
    }
    const int simd = p->depth_multiplier == 1 && p->filter_h * p->filter_w <= EIP_DSP_DEPTHWISE_TAPS_MAX;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + b * p->out_h * p->out_w * p->out_c;
        if (simd) {
            depthwise_simd(p, in, filter, bias, out);
        } else {
            depthwise_direct(p, in, filter, bias, out);
        }
    }
    return EIP_OK;
}
