/*
 * DEPTHWISE_CONV_2D, int8, Helium (MVE) variant: same arithmetic as ../depthwise_conv2d.c (bit-exact).
 *
 * Four channels per vector (int8 codes widened to int32 lanes by the load). Channel blocks are the outer loop: a block's requantization parameters stay in
 * registers over all pixels, and so does its folded bias, bias - in_zp * Sum_taps w, which lets a pixel whose
 * taps all lie inside the image add the raw codes (Sum w (x - in_zp) = Sum w x - in_zp Sum w, wrapping int32).
 * Interior pixels go four at a time, sharing each filter load; a 3x3 filter is unrolled. Helium has no
 * lane-wise multiply-accumulate of two vectors: each tap is VMUL + VADD. Border pixels sum
 * w (x - in_zp) over the taps inside, as the reference. Channel counts that are not a multiple of four end
 * in a predicated block. A depth multiplier above 1 runs the reference loop (depthwise_conv2d_ref.h).
 */
#include <arm_mve.h>

#include "eip_kernels.h"
#include "../depthwise_conv2d_ref.h"
#include "../mac_params.h"
#include "../fixedpoint.h"
#include "requantize.h"

typedef struct {
    const eip_depthwise_conv2d_params_t *p;
    const int8_t *in;
    const int8_t *filter;   /* this block's first channel */
    int8_t *out;            /* this block's first channel */
    int32_t c;
    mve_pred16_t lanes;     /* the block's channels */
    int32x4_t bias;         /* bias (0 without) */
    int32x4_t folded;       /* bias - in_zp * Sum w over every tap */
    eip_mve_quant_t quant;
} block_t;

static inline void store(const block_t *b, int32x4_t acc, int8_t *out)
{
    const eip_depthwise_conv2d_params_t *p = b->p;
    const int32x4_t y = eip_mve_output(eip_mve_mbqm(acc, &b->quant), p->out_zp, p->act_min, p->act_max);
    vstrbq_p_s32(out, y, b->lanes);
}

/* Four channels' codes as int32 lanes: a whole block loads without a predicate (a predicated load costs a
 * VPST besides), the last partial block with it. */
#define LOAD(ptr) (full ? vldrbq_s32(ptr) : vldrbq_z_s32((ptr), b->lanes))

/* acc + x * w lane by lane (Helium multiplies vectors, and accumulates only across lanes or by a scalar). */
static inline int32x4_t mla(int32x4_t acc, int32x4_t x, int32x4_t w)
{
    return vaddq_s32(acc, vmulq_s32(x, w));
}

/* Four interior pixels ox .. ox + 3 of row oy; x0 points at pixel ox's top-left tap (this block's channel). */
static inline __attribute__((always_inline)) void interior_four(const block_t *b, const int full, const int8_t *x0, int32_t fh,
                                                                int32_t fw, int8_t *out)
{
    const eip_depthwise_conv2d_params_t *p = b->p;
    const int32_t c = p->in_c;
    const int32_t step = p->stride_w * c;
    int32x4_t a0 = b->folded, a1 = b->folded, a2 = b->folded, a3 = b->folded;
    const int8_t *w = b->filter;
    for (int32_t ky = 0; ky < fh; ++ky) {
        const int8_t *x = x0 + ky * p->dilation_h * p->in_w * c;
        for (int32_t kx = 0; kx < fw; ++kx) {
            const int32x4_t wv = LOAD(w);
            a0 = mla(a0, LOAD(x), wv);
            a1 = mla(a1, LOAD(x + step), wv);
            a2 = mla(a2, LOAD(x + 2 * step), wv);
            a3 = mla(a3, LOAD(x + 3 * step), wv);
            w += c;
            x += p->dilation_w * c;
        }
    }
    store(b, a0, out);
    store(b, a1, out + p->out_c);
    store(b, a2, out + 2 * p->out_c);
    store(b, a3, out + 3 * p->out_c);
}

static inline __attribute__((always_inline)) void interior_one(const block_t *b, const int full, const int8_t *x0, int32_t fh,
                                                               int32_t fw, int8_t *out)
{
    const eip_depthwise_conv2d_params_t *p = b->p;
    const int32_t c = p->in_c;
    int32x4_t a0 = b->folded;
    const int8_t *w = b->filter;
    for (int32_t ky = 0; ky < fh; ++ky) {
        const int8_t *x = x0 + ky * p->dilation_h * p->in_w * c;
        for (int32_t kx = 0; kx < fw; ++kx) {
            a0 = mla(a0, LOAD(x), LOAD(w));
            w += c;
            x += p->dilation_w * c;
        }
    }
    store(b, a0, out);
}

/* A pixel with taps outside the image: Sum w (x - in_zp) over the taps inside. */
static void border(const block_t *b, int32_t oy, int32_t ox, int8_t *out)
{
    const eip_depthwise_conv2d_params_t *p = b->p;
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t in_x0 = ox * p->stride_w - p->pad_left;
    int32x4_t acc = b->bias;
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
            const int32x4_t x = vldrbq_z_s32(b->in + (iy * p->in_w + ix) * p->in_c + b->c, b->lanes);
            const int32x4_t w = vldrbq_z_s32(b->filter + (ky * p->filter_w + kx) * p->out_c, b->lanes);
            acc = mla(acc, vsubq_n_s32(x, p->in_zp), w);
        }
    }
    store(b, acc, out);
}

/* One row of output pixels of a block: the interior run [x_lo, x_hi) two at a time, the rest on the border path. */
static inline __attribute__((always_inline)) void block_row(const block_t *b, const int full, int32_t oy,
                                                            int32_t x_lo, int32_t x_hi, int interior_y, int32_t fh,
                                                            int32_t fw)
{
    const eip_depthwise_conv2d_params_t *p = b->p;
    int8_t *out = b->out + oy * p->out_w * p->out_c;
    if (!interior_y || x_lo >= x_hi) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            border(b, oy, ox, out + ox * p->out_c);
        }
        return;
    }
    for (int32_t ox = 0; ox < x_lo; ++ox) {
        border(b, oy, ox, out + ox * p->out_c);
    }
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    int32_t ox = x_lo;
    for (; ox + 3 < x_hi; ox += 4) {
        const int8_t *x0 = b->in + (in_y0 * p->in_w + ox * p->stride_w - p->pad_left) * p->in_c + b->c;
        interior_four(b, full, x0, fh, fw, out + ox * p->out_c);
    }
    for (; ox < x_hi; ++ox) {
        const int8_t *x0 = b->in + (in_y0 * p->in_w + ox * p->stride_w - p->pad_left) * p->in_c + b->c;
        interior_one(b, full, x0, fh, fw, out + ox * p->out_c);
    }
    for (; ox < p->out_w; ++ox) {
        border(b, oy, ox, out + ox * p->out_c);
    }
}

/* The first output index from which every tap lies at or after 0, and the end of those whose taps all lie
 * before `size`, along one axis. */
static int32_t first_inside(int32_t pad, int32_t stride)
{
    return (pad + stride - 1) / stride;
}

static int32_t end_inside(int32_t in_size, int32_t pad, int32_t stride, int32_t span)
{
    const int32_t last = in_size + pad - span;   /* o * stride <= last */
    return last < 0 ? 0 : last / stride + 1;
}

static void depthwise_batch(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                            const int32_t *bias, int8_t *out)
{
    const int32_t span_h = (p->filter_h - 1) * p->dilation_h + 1;
    const int32_t span_w = (p->filter_w - 1) * p->dilation_w + 1;
    const int32_t y_lo = first_inside(p->pad_top, p->stride_h);
    const int32_t y_hi = end_inside(p->in_h, p->pad_top, p->stride_h, span_h);
    const int32_t x_lo = first_inside(p->pad_left, p->stride_w);
    int32_t x_hi = end_inside(p->in_w, p->pad_left, p->stride_w, span_w);
    x_hi = x_hi > p->out_w ? p->out_w : x_hi;
    const int32_t taps = p->filter_h * p->filter_w;
    const int three = p->filter_h == 3 && p->filter_w == 3;
    for (int32_t c = 0; c < p->out_c; c += 4) {
        block_t b;
        b.p = p;
        b.in = in;
        b.filter = filter + c;
        b.out = out + c;
        b.c = c;
        b.lanes = vctp32q((uint32_t)(p->out_c - c));
        const int full = p->out_c - c >= 4;
        b.bias = bias != 0 ? vldrwq_z_s32(bias + c, b.lanes) : vdupq_n_s32(0);
        int32x4_t wsum = vdupq_n_s32(0);
        for (int32_t t = 0; t < taps; ++t) {
            wsum = vaddq_s32(wsum, vldrbq_z_s32(b.filter + t * p->out_c, b.lanes));
        }
        b.folded = vsubq_s32(b.bias, vmulq_n_s32(wsum, p->in_zp));
        b.quant = eip_mve_quant_load(p->multiplier, p->shift, c, b.lanes);
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int interior_y = oy >= y_lo && oy < y_hi;
            if (three && full) {
                block_row(&b, 1, oy, x_lo, x_hi, interior_y, 3, 3);
            } else if (full) {
                block_row(&b, 1, oy, x_lo, x_hi, interior_y, p->filter_h, p->filter_w);
            } else {
                block_row(&b, 0, oy, x_lo, x_hi, interior_y, p->filter_h, p->filter_w);
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
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + b * p->out_h * p->out_w * p->out_c;
        if (p->depth_multiplier == 1) {
            depthwise_batch(p, in, filter, bias, out);
        } else {
            eip_depthwise_conv2d_batch_ref(p, in, filter, bias, out);
        }
    }
    return EIP_OK;
}
