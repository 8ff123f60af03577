/*
 * CONV_2D, int8, Arm DSP variant: same arithmetic as ../conv2d.c (bit-exact), two MACs per SMLAD.
 *
 * Each output pixel's receptive field is unrolled once (im2col) into int16 values x - in_zp (padding
 * becomes 0, which adds nothing, as the reference's skipped taps), then every output channel is a dot
 * product with its int8 filter row. Within each whole group of four the column is stored as x0 x2 x1 x3,
 * the order in which SXTB16 unpacks four filter bytes, so one load of filter bytes feeds two SMLADs.
 * Two pixels and two channels per step share their loads. Integer sums wrap modulo 2^32 (SMLAD, eip_add_wrap),
 * so only the order of additions differs from the reference; the requantization is eip_dsp_mbqm, equal to
 * eip_mbqm.
 */
#include "eip_kernels.h"
#include "../mac_params.h"
#include "../fixedpoint.h"
#include "requantize.h"
#include "simd.h"

/* Longest receptive field (filter_h * filter_w * filter_c) unrolled; longer ones take the direct path.
 * The column buffer holds two of them (int16): 3 KB by default. */
#ifndef EIP_DSP_CONV_COLUMN_MAX
#define EIP_DSP_CONV_COLUMN_MAX 768
#endif

static int16_t column_buffer[2 * EIP_DSP_CONV_COLUMN_MAX];

/* n input codes as int16 x - in_zp; n % 4 == 0 writes each group of four in the order x0 x2 x1 x3. */
static void widen(const int8_t *src, int32_t n, int32_t in_zp, int16_t *dst)
{
    if ((n & 3) == 0) {
        const int32_t minus_zp = eip_pair16(-in_zp);
        for (int32_t i = 0; i < n; i += 4) {
            const int32_t x = eip_load_s8x4(src + i);
            eip_store_s16x2(dst + i, __sxtab16(minus_zp, x));
            eip_store_s16x2(dst + i + 2, eip_sxtab16_odd(minus_zp, x));
        }
        return;
    }
    for (int32_t i = 0; i < n; ++i) {
        dst[i] = (int16_t)(src[i] - in_zp);
    }
}

/* Natural order -> x0 x2 x1 x3 within each whole group of four of a column of length k. */
static void interleave_quads(int16_t *col, int32_t k)
{
    for (int32_t i = 0; i + 4 <= k; i += 4) {
        const int16_t t = col[i + 1];
        col[i + 1] = col[i + 2];
        col[i + 2] = t;
    }
}

/* The receptive field of output pixel (oy, ox), channels [c0, c0 + filter_c), into col[k]. */
static void fill_column(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int32_t c0,
                        int16_t *col)
{
    const int32_t fc = p->filter_c;
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t in_x0 = ox * p->stride_w - p->pad_left;
    int16_t *dst = col;
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t iy = in_y0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
            const int32_t ix = in_x0 + kx * p->dilation_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                memset(dst, 0, (size_t)fc * sizeof *dst);
            } else {
                widen(in + (iy * p->in_w + ix) * p->in_c + c0, fc, p->in_zp, dst);
            }
            dst += fc;
        }
    }
    if ((fc & 3) != 0) {
        interleave_quads(col, fc * p->filter_h * p->filter_w);
    }
}

/* acc[2 * channel + pixel] += the dot products of filter rows w0, w1 with columns ca, cb (length k). */
static void dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *ca, const int16_t *cb, int32_t k,
                    int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    for (int32_t q = k >> 2; q > 0; --q) {
        const int32_t xa02 = eip_load_s16x2(ca), xa13 = eip_load_s16x2(ca + 2);
        const int32_t xb02 = eip_load_s16x2(cb), xb13 = eip_load_s16x2(cb + 2);
        ca += 4;
        cb += 4;
        int32_t w = eip_load_s8x4(w0);
        w0 += 4;
        int32_t w02 = __sxtb16(w), w13 = eip_sxtb16_odd(w);
        a00 = __smlad(w02, xa02, a00);
        a00 = __smlad(w13, xa13, a00);
        a01 = __smlad(w02, xb02, a01);
        a01 = __smlad(w13, xb13, a01);
        w = eip_load_s8x4(w1);
        w1 += 4;
        w02 = __sxtb16(w);
        w13 = eip_sxtb16_odd(w);
        a10 = __smlad(w02, xa02, a10);
        a10 = __smlad(w13, xa13, a10);
        a11 = __smlad(w02, xb02, a11);
        a11 = __smlad(w13, xb13, a11);
    }
    for (int32_t r = k & 3; r > 0; --r) {
        const int32_t x_a = *ca++, x_b = *cb++, v0 = *w0++, v1 = *w1++;
        a00 = eip_add_wrap(a00, v0 * x_a);
        a01 = eip_add_wrap(a01, v0 * x_b);
        a10 = eip_add_wrap(a10, v1 * x_a);
        a11 = eip_add_wrap(a11, v1 * x_b);
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

static inline int8_t requantize(const eip_conv2d_params_t *p, int32_t acc, const int32_t *bias, int32_t oc)
{
    if (bias != 0) {
        acc = eip_add_wrap(acc, bias[oc]);
    }
    return eip_dsp_requantize_kind(p->requant, acc, p->multiplier[oc], p->shift[oc], p->out_zp, p->act_min,
                                   p->act_max);
}

/* Channel oc of two pixels (sums a and b) as int8 codes, its bias, multiplier and shift loaded once. Inlined
 * with a constant `kind`, the requantization has no branch on it. */
static inline __attribute__((always_inline)) void requantize_pair(const eip_conv2d_params_t *p, int32_t kind,
                                                                  const int32_t *bias, int32_t oc, int32_t a,
                                                                  int32_t b, int8_t *out_a, int8_t *out_b)
{
    const int32_t bias_c = bias != 0 ? bias[oc] : 0, m = p->multiplier[oc], s = p->shift[oc];
    out_a[oc] = eip_dsp_requantize_kind(kind, eip_add_wrap(a, bias_c), m, s, p->out_zp, p->act_min, p->act_max);
    out_b[oc] = eip_dsp_requantize_kind(kind, eip_add_wrap(b, bias_c), m, s, p->out_zp, p->act_min, p->act_max);
}

/* Output channels [oc_begin, oc_end) of two pixels whose columns are col_a and col_b: two channels at a
 * time, a last odd channel paired with itself. */
static inline __attribute__((always_inline)) void channel_pairs(const eip_conv2d_params_t *p, int32_t kind,
                                                                const int8_t *filter, const int32_t *bias,
                                                                const int16_t *col_a, const int16_t *col_b,
                                                                int32_t k, int32_t oc_begin, int32_t oc_end,
                                                                int8_t *out_a, int8_t *out_b)
{
    for (int32_t oc = oc_begin; oc < oc_end; oc += 2) {
        const int32_t oc1 = oc + 1 < oc_end ? oc + 1 : oc;
        int32_t acc[4] = {0, 0, 0, 0};
        dot_2x2(filter + oc * k, filter + oc1 * k, col_a, col_b, k, acc);
        requantize_pair(p, kind, bias, oc, acc[0], acc[1], out_a, out_b);
        requantize_pair(p, kind, bias, oc1, acc[2], acc[3], out_a, out_b);
    }
}

/* Receptive fields too long for the column buffer: the reference loop. */
static void conv_direct(const eip_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                        const int32_t *bias, int8_t *out)
{
    const int32_t out_c_per_group = p->out_c / (p->in_c / p->filter_c);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                const int32_t in_c0 = (oc / out_c_per_group) * p->filter_c;
                int32_t acc = 0;
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const int8_t *x = in + (iy * p->in_w + ix) * p->in_c + in_c0;
                        const int8_t *w = filter + ((oc * p->filter_h + ky) * p->filter_w + kx) * p->filter_c;
                        for (int32_t ci = 0; ci < p->filter_c; ++ci) {
                            acc = eip_add_wrap(acc, (int32_t)w[ci] * ((int32_t)x[ci] - p->in_zp));
                        }
                    }
                }
                out[(oy * p->out_w + ox) * p->out_c + oc] = requantize(p, acc, bias, oc);
            }
        }
    }
}

/* 1x1 filter, no padding, every input pixel inside: the column is the input pixel's channels. */
static int is_pointwise(const eip_conv2d_params_t *p)
{
    return p->filter_h == 1 && p->filter_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
           (p->out_h - 1) * p->stride_h < p->in_h && (p->out_w - 1) * p->stride_w < p->in_w;
}

eip_status_t eip_conv2d(const eip_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_conv2d_check(p, input, filter, output);
    if (status != EIP_OK) {
        return status;
    }
    const int32_t groups = p->in_c / p->filter_c;
    const int32_t out_c_per_group = p->out_c / groups;
    const int32_t k = p->filter_h * p->filter_w * p->filter_c;
    const int32_t pixels = p->out_h * p->out_w;
    const int pointwise = is_pointwise(p);
    int16_t *const col_a = column_buffer;
    int16_t *const col_b = column_buffer + EIP_DSP_CONV_COLUMN_MAX;

    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + b * pixels * p->out_c;
        if (k > EIP_DSP_CONV_COLUMN_MAX) {
            conv_direct(p, in, filter, bias, out);
            continue;
        }
        for (int32_t g = 0; g < groups; ++g) {
            const int32_t c0 = g * p->filter_c;
            const int32_t oc_begin = g * out_c_per_group, oc_end = oc_begin + out_c_per_group;
            /* Pixels two at a time; a last odd pixel is computed twice and stored once. */
            for (int32_t px = 0; px < pixels; px += 2) {
                const int32_t px_b = px + 1 < pixels ? px + 1 : px;
                const int32_t oy_a = px / p->out_w, ox_a = px % p->out_w;
                const int32_t oy_b = px_b / p->out_w, ox_b = px_b % p->out_w;
                if (pointwise) {
                    widen(in + (oy_a * p->stride_h * p->in_w + ox_a * p->stride_w) * p->in_c + c0, k, p->in_zp,
                          col_a);
                    widen(in + (oy_b * p->stride_h * p->in_w + ox_b * p->stride_w) * p->in_c + c0, k, p->in_zp,
                          col_b);
                    if ((k & 3) != 0) {
                        interleave_quads(col_a, k);
                        interleave_quads(col_b, k);
                    }
                } else {
                    fill_column(p, in, oy_a, ox_a, c0, col_a);
                    fill_column(p, in, oy_b, ox_b, c0, col_b);
                }
                int8_t *out_a = out + px * p->out_c;
                int8_t *out_b = out + px_b * p->out_c;
                if (p->requant == EIP_REQUANT_SMMULR) {   /* the common case, specialised */
                    channel_pairs(p, EIP_REQUANT_SMMULR, filter, bias, col_a, col_b, k, oc_begin, oc_end, out_a,
                                  out_b);
                } else {
                    channel_pairs(p, p->requant, filter, bias, col_a, col_b, k, oc_begin, oc_end, out_a, out_b);
                }
            }
        }
    }
    return EIP_OK;
}
