/*
 * DEPTHWISE_CONV_2D, int8, Arm DSP variant: same arithmetic as ../depthwise_conv2d.c (bit-exact).
 *
 * Depth multiplier 1: four channels at a time, SIMD across channels, the filter taps of each block of four
 * sign-extended once; each output pixel walks the rectangle of its valid taps (padding adds nothing, as
 * the reference's skipped taps). Other depth multipliers and filters with more than
 * EIP_DSP_DEPTHWISE_TAPS_MAX taps run the reference loop itself (../depthwise_conv2d_ref.h).
 */
#include "eip_kernels.h"
#include "../mac_params.h"
#include "../depthwise_conv2d_ref.h"
#include "../fixedpoint.h"
#include "requantize.h"
#include "simd.h"

#ifndef EIP_DSP_DEPTHWISE_TAPS_MAX
#define EIP_DSP_DEPTHWISE_TAPS_MAX 64
#endif

/* The sum of channel oc (bias included) as an int8 code, by requantization `kind`. */
static inline __attribute__((always_inline)) int8_t requantize_sum_kind(const eip_depthwise_conv2d_params_t *p,
                                                                        int32_t kind, int32_t acc, int32_t oc)
{
    return eip_dsp_requantize_kind(kind, acc, p->multiplier[oc], p->shift[oc], p->out_zp, p->act_min,
                                   p->act_max);
}

static inline int8_t requantize(const eip_depthwise_conv2d_params_t *p, int32_t acc, const int32_t *bias,
                                int32_t oc)
{
    return requantize_sum_kind(p, p->requant, bias != 0 ? eip_add_wrap(acc, bias[oc]) : acc, oc);
}

/* The filter taps [k0, k1) whose input row (or column) in0 + k * dilation lies inside [0, size). */
static void valid_taps(int32_t in0, int32_t dilation, int32_t size, int32_t taps, int32_t *k0, int32_t *k1)
{
    int32_t lo = 0, hi = taps;
    while (lo < hi && in0 + lo * dilation < 0) {
        ++lo;
    }
    while (hi > lo && in0 + (hi - 1) * dilation >= size) {
        --hi;
    }
    *k0 = lo;
    *k1 = hi;
}

/* One filter tap of one output pixel for four channels: w_tap holds the tap sign-extended, channels (0, 2)
 * and (1, 3); SXTAB16 turns the four input bytes at `in + x_off` into x - in_zp the same way, and SMLABB /
 * SMLATT add one product each to the sums acc0..acc3. A macro, so the sums stay in registers. */
#define DW_TAP(x_off, w_tap)                                                                            \
    do {                                                                                               \
        const int32_t x_ = eip_load_s8x4(in + (x_off));                                                \
        const int32_t x02_ = __sxtab16(minus_zp, x_), x13_ = eip_sxtab16_odd(minus_zp, x_);           \
        acc0 = __smlabb((w_tap)[0], x02_, acc0);                                                       \
        acc2 = __smlatt((w_tap)[0], x02_, acc2);                                                       \
        acc1 = __smlabb((w_tap)[1], x13_, acc1);                                                       \
        acc3 = __smlatt((w_tap)[1], x13_, acc3);                                                       \
    } while (0)

/* The output step of four channels by the SMMULR kind (requantize.h), its constants worked out once per
 * block and held in locals: the int8 stores may alias *p for the compiler, which reloaded every parameter
 * for every output. */
typedef struct {
    int32_t multiplier[4];
    int32_t right[4];
    int32_t half[4];      /* 2^(right - 1), 0 for no shift */
    int32_t shifts[4];    /* 1 where right != 0: the tie correction of negative values applies */
    int32_t out_zp, act_min, act_max;
} out_step_t;

static inline __attribute__((always_inline)) int8_t out_smmulr(const out_step_t *st, int32_t i, int32_t acc)
{
    const int32_t y = eip_dsp_smmulr((int32_t)((uint32_t)acc << 1), st->multiplier[i]);
    int32_t v = ((y + st->half[i] - (int32_t)(((uint32_t)y >> 31) & (uint32_t)st->shifts[i])) >> st->right[i]) +
                st->out_zp;
    v = v < st->act_min ? st->act_min : v;
    return (int8_t)(v > st->act_max ? st->act_max : v);
}

/* Channels [c, c + 4) of every output pixel, requantized by `kind` (a constant where inlined). Pixels whose
 * taps all lie inside the image (the interior: whole rows of taps, and the columns found once) skip the
 * clipping of the tap rectangle, and with `unroll` a 3x3 filter's nine taps are unrolled there. Tap
 * offsets, not pointers: the step after the last tap may lie outside the input. */
static inline __attribute__((always_inline)) void block4(const eip_depthwise_conv2d_params_t *p,
                                                         const int8_t *in, const int32_t *w, const int32_t *bias,
                                                         int32_t c, int8_t *out, int32_t kind, int unroll)
{
    const int32_t channels = p->in_c, fh = p->filter_h, fw = p->filter_w;
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    const int32_t row_step = p->dilation_h * p->in_w * channels, col_step = p->dilation_w * channels;
    int32_t start[4] = {0, 0, 0, 0};
    if (bias != 0) {
        memcpy(start, bias + c, sizeof start);
    }
    int32_t ox_lo = 0, ox_hi = p->out_w;   /* the columns whose taps all lie inside: [ox_lo, ox_hi) */
    while (ox_lo < ox_hi && ox_lo * p->stride_w - p->pad_left < 0) {
        ++ox_lo;
    }
    while (ox_hi > ox_lo && (ox_hi - 1) * p->stride_w - p->pad_left + (fw - 1) * p->dilation_w >= p->in_w) {
        --ox_hi;
    }
    const int unrolled = unroll && fh == 3 && fw == 3;
    out_step_t st;
    st.out_zp = p->out_zp;
    st.act_min = p->act_min;
    st.act_max = p->act_max;
    for (int32_t i = 0; i < 4 && kind == EIP_REQUANT_SMMULR; ++i) {
        st.multiplier[i] = p->multiplier[c + i];
        st.right[i] = -p->shift[c + i];   /* the SMMULR kind has shift <= 0 */
        st.half[i] = (int32_t)((1u << st.right[i]) >> 1);
        st.shifts[i] = st.right[i] != 0;
    }
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t in_y0 = oy * p->stride_h - p->pad_top;
        int32_t ky0, ky1;
        valid_taps(in_y0, p->dilation_h, p->in_h, fh, &ky0, &ky1);
        const int row_inside = ky0 == 0 && ky1 == fh;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_left;
            int32_t acc0 = start[0], acc1 = start[1], acc2 = start[2], acc3 = start[3];
            if (row_inside && unrolled && ox >= ox_lo && ox < ox_hi) {
                const int32_t x0 = (in_y0 * p->in_w + in_x0) * channels + c;
                const int32_t x1 = x0 + row_step, x2 = x1 + row_step;
                DW_TAP(x0, w);
                DW_TAP(x0 + col_step, w + 2);
                DW_TAP(x0 + 2 * col_step, w + 4);
                DW_TAP(x1, w + 6);
                DW_TAP(x1 + col_step, w + 8);
                DW_TAP(x1 + 2 * col_step, w + 10);
                DW_TAP(x2, w + 12);
                DW_TAP(x2 + col_step, w + 14);
                DW_TAP(x2 + 2 * col_step, w + 16);
            } else {
                int32_t kx0 = 0, kx1 = fw;
                if (!(row_inside && ox >= ox_lo && ox < ox_hi)) {
                    valid_taps(in_x0, p->dilation_w, p->in_w, fw, &kx0, &kx1);
                }
                int32_t x_row = ((in_y0 + ky0 * p->dilation_h) * p->in_w + in_x0 + kx0 * p->dilation_w) * channels + c;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const int32_t *w_tap = w + 2 * (ky * fw + kx0);
                    int32_t x_tap = x_row;
                    for (int32_t kx = kx1 - kx0; kx > 0; --kx) {
                        DW_TAP(x_tap, w_tap);
                        w_tap += 2;
                        x_tap += col_step;
                    }
                    x_row += row_step;
                }
            }
            int8_t *o = out + (oy * p->out_w + ox) * channels + c;
            if (kind == EIP_REQUANT_SMMULR) {
                o[0] = out_smmulr(&st, 0, acc0);
                o[1] = out_smmulr(&st, 1, acc1);
                o[2] = out_smmulr(&st, 2, acc2);
                o[3] = out_smmulr(&st, 3, acc3);
            } else {
                o[0] = requantize_sum_kind(p, kind, acc0, c);
                o[1] = requantize_sum_kind(p, kind, acc1, c + 1);
                o[2] = requantize_sum_kind(p, kind, acc2, c + 2);
                o[3] = requantize_sum_kind(p, kind, acc3, c + 3);
            }
        }
    }
}

#undef DW_TAP

static void depthwise_block4(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int32_t *w,
                             const int32_t *bias, int32_t c, int8_t *out)
{
    if (p->requant == EIP_REQUANT_SMMULR) {   /* the common case, specialised */
        block4(p, in, w, bias, c, out, EIP_REQUANT_SMMULR, 1);
    } else {
        block4(p, in, w, bias, c, out, p->requant, 0);
    }
}

/* Depth multiplier 1 (out_c == in_c): blocks of four channels, each block's filter taps sign-extended
 * once and shared by all output pixels; the last in_c % 4 channels take the reference loop. */
static void depthwise_simd(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                           const int32_t *bias, int8_t *out)
{
    const int32_t channels = p->in_c;
    const int32_t taps = p->filter_h * p->filter_w;
    int32_t w[2 * EIP_DSP_DEPTHWISE_TAPS_MAX];
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        for (int32_t t = 0; t < taps; ++t) {
            const int32_t v = eip_load_s8x4(filter + t * channels + c);
            w[2 * t] = __sxtb16(v);
            w[2 * t + 1] = eip_sxtb16_odd(v);
        }
        depthwise_block4(p, in, w, bias, c, out);
    }
    for (; c < channels; ++c) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            valid_taps(in_y0, p->dilation_h, p->in_h, p->filter_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                valid_taps(in_x0, p->dilation_w, p->in_w, p->filter_w, &kx0, &kx1);
                int32_t acc = 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const int32_t iy = in_y0 + ky * p->dilation_h;
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        const int32_t ix = in_x0 + kx * p->dilation_w;
                        acc = eip_add_wrap(acc, (int32_t)filter[(ky * p->filter_w + kx) * channels + c] *
                                                    ((int32_t)in[(iy * p->in_w + ix) * channels + c] - p->in_zp));
                    }
                }
                out[(oy * p->out_w + ox) * channels + c] = requantize(p, acc, bias, c);
            }
        }
    }
}

eip_status_t eip_depthwise_conv2d(const eip_depthwise_conv2d_params_t *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_depthwise_conv2d_check(p, input, filter, output);
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
            eip_depthwise_conv2d_batch_ref(p, in, filter, bias, out);
        }
    }
    return EIP_OK;
}
