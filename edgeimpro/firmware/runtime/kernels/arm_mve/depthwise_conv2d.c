/*
 * DEPTHWISE_CONV_2D, int8, Helium (MVE) variant: same arithmetic as ../depthwise_conv2d.c (bit-exact).
 *
 * Output rows outermost, every 4-channel block of a row before the next row, for the streaming contract
 * (issue 13: the planner may place the output below the input): once output row oy is begun, no input row
 * before oy * stride_h - pad_top is read again. A 3x3 layer without dilation, stride 1 or 2 along the row,
 * whose plan gives it scratch (the common case) goes through the strip below, borders and all: with a strip
 * for every block (strip_blocks), each block keeps a ring of its 3 padded input rows and its constants across
 * output rows; with one strip, each block writes its constants and 3 rows again for every output row. Other
 * shapes: four channels per vector (int8 codes widened to int32 lanes by the load), a block's requantization
 * parameters and folded bias, bias - in_zp * Sum_taps w, set up once per row; a pixel whose taps all lie
 * inside the image adds the raw codes (Sum w (x - in_zp) = Sum w x - in_zp Sum w, wrapping int32), interior
 * pixels four at a time sharing each filter load; border pixels sum w (x - in_zp) over the taps inside, as
 * the reference. Helium has no lane-wise multiply-accumulate of two vectors: each tap is VMUL + VADD. Channel
 * counts that are not a multiple of four end in a predicated block. A depth multiplier above 1 runs the
 * reference loop (depthwise_conv2d_ref.h), rows outermost too.
 */
#include <arm_mve.h>
#include <stddef.h>
#include <string.h>

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
    int32_t out_zp;
    int32x4_t act_min;
    int32x4_t act_max;
} block_t;

static inline void store(const block_t *b, int32x4_t acc, int8_t *out)
{
    const int32x4_t y = vaddq_n_s32(eip_mve_mbqm(acc, &b->quant), b->out_zp);
    vstrbq_p_s32(out, vminq_s32(vmaxq_s32(y, b->act_min), b->act_max), b->lanes);
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
#pragma GCC unroll 3
    for (int32_t ky = 0; ky < fh; ++ky) {
        const int8_t *x = x0 + ky * p->dilation_h * p->in_w * c;
#pragma GCC unroll 3
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
#pragma GCC unroll 3
    for (int32_t ky = 0; ky < fh; ++ky) {
        const int8_t *x = x0 + ky * p->dilation_h * p->in_w * c;
#pragma GCC unroll 3
        for (int32_t kx = 0; kx < fw; ++kx) {
            a0 = mla(a0, LOAD(x), LOAD(w));
            w += c;
            x += p->dilation_w * c;
        }
    }
    store(b, a0, out);
}

/* The taps [*lo, *hi) of one axis that fall inside [0, size) for a window starting at `start`. */
static inline void taps_inside(int32_t start, int32_t taps, int32_t dilation, int32_t size, int32_t *lo, int32_t *hi)
{
    int32_t k = 0;
    while (k < taps && start + k * dilation < 0) {
        ++k;
    }
    *lo = k;
    while (k < taps && start + k * dilation < size) {
        ++k;
    }
    *hi = k;
}

/* A pixel with taps outside the image: Sum w (x - in_zp) over the taps inside, found once per pixel. */
static inline __attribute__((always_inline)) void border(const block_t *b, const int full, int32_t oy, int32_t ox,
                                                         int8_t *out)
{
    const eip_depthwise_conv2d_params_t *p = b->p;
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t in_x0 = ox * p->stride_w - p->pad_left;
    int32_t ky0, ky1, kx0, kx1;
    taps_inside(in_y0, p->filter_h, p->dilation_h, p->in_h, &ky0, &ky1);
    taps_inside(in_x0, p->filter_w, p->dilation_w, p->in_w, &kx0, &kx1);
    const int32_t c = p->in_c;
    const int32_t x_step = p->dilation_w * c, in_zp = p->in_zp;
    int32x4_t acc = b->bias;
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        const int8_t *x = b->in + ((in_y0 + ky * p->dilation_h) * p->in_w + in_x0 + kx0 * p->dilation_w) * c + b->c;
        const int8_t *w = b->filter + (ky * p->filter_w + kx0) * c;
        for (int32_t kx = kx0; kx < kx1; ++kx) {
            acc = mla(acc, vsubq_n_s32(LOAD(x), in_zp), LOAD(w));
            x += x_step;
            w += c;
        }
    }
    store(b, acc, out);
}

/* The pixel functions of one kind of block, each a function of its own so that the register allocator sees
 * only its few live values (inlined into one, GCC 12 spilled the accumulators): whole blocks, and the last
 * partial block. This path serves the shapes the strip does not (filters other than 3x3, dilation, a stride
 * above 2 along the row, rows too wide for the planned strip). */
typedef struct {
    void (*four)(const block_t *b, const int8_t *x0, int8_t *out);
    void (*one)(const block_t *b, const int8_t *x0, int8_t *out);
    void (*border)(const block_t *b, int32_t oy, int32_t ox, int8_t *out);
} pixel_fns_t;

#define PIXEL_FNS(name, FULL, FH, FW)                                                                         \
    static __attribute__((noinline)) void name##_four(const block_t *b, const int8_t *x0, int8_t *out)         \
    {                                                                                                          \
        interior_four(b, FULL, x0, FH, FW, out);                                                               \
    }                                                                                                          \
    static __attribute__((noinline)) void name##_one(const block_t *b, const int8_t *x0, int8_t *out)          \
    {                                                                                                          \
        interior_one(b, FULL, x0, FH, FW, out);                                                                \
    }                                                                                                          \
    static __attribute__((noinline)) void name##_border(const block_t *b, int32_t oy, int32_t ox, int8_t *out) \
    {                                                                                                          \
        border(b, FULL, oy, ox, out);                                                                          \
    }                                                                                                          \
    static const pixel_fns_t name = {name##_four, name##_one, name##_border};

PIXEL_FNS(whole, 1, b->p->filter_h, b->p->filter_w)
PIXEL_FNS(partial, 0, b->p->filter_h, b->p->filter_w)

/* One row of output pixels of a block: the interior run [x_lo, x_hi) four at a time, the rest on the border
 * path. */
static void block_row(const block_t *b, const pixel_fns_t *fns, int32_t oy, int32_t x_lo, int32_t x_hi,
                      int interior_y)
{
    const eip_depthwise_conv2d_params_t *p = b->p;
    int8_t *out = b->out + oy * p->out_w * p->out_c;
    if (!interior_y || x_lo >= x_hi) {
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            fns->border(b, oy, ox, out + ox * p->out_c);
        }
        return;
    }
    for (int32_t ox = 0; ox < x_lo; ++ox) {
        fns->border(b, oy, ox, out + ox * p->out_c);
    }
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t step = p->stride_w * p->in_c;
    const int8_t *x0 = b->in + (in_y0 * p->in_w + x_lo * p->stride_w - p->pad_left) * p->in_c + b->c;
    int32_t ox = x_lo;
    for (; ox + 3 < x_hi; ox += 4, x0 += 4 * step) {
        fns->four(b, x0, out + ox * p->out_c);
    }
    for (; ox < x_hi; ++ox, x0 += step) {
        fns->one(b, x0, out + ox * p->out_c);
    }
    for (; ox < p->out_w; ++ox) {
        fns->border(b, oy, ox, out + ox * p->out_c);
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

/* ---- the 3x3 strip path (the layer's scratch: ops/depthwise_conv2d.py, strip_scratch) ----------------------
 * A block's strip holds the 3 input rows an output row reads, each padded to the window's width with the input
 * zero point, 4 bytes per cell, then the block's head (strip_head_t: its 9 taps, zeros for absent channels,
 * folded bias and requantization vectors). Every output pixel is then an interior one of the strip (a padded
 * tap reads in_zp, whose x - in_zp is 0, as the reference skips it), four pixels read at immediate offsets
 * from three row pointers, with no address arithmetic between taps. A stride of 1 or 2 along the row is
 * compiled in. With a strip for every block (strip_blocks) each block's rows are a ring that keeps the rows
 * the next output row reads again and its head is written once; with one strip, each block writes its head
 * and its 3 rows for every output row. */

#define STR_(x) #x
#define STR(x) STR_(x)

/* A block's constants, after its 3 rows in the strip (the taps read at immediate offsets by the assembly). */
typedef struct {
    int8_t taps[36];        /* +0: tap t's 4 channels at 4 t */
    int32_t folded[4];      /* bias - in_zp * Sum w over the 9 taps */
    int32_t multiplier[4];  /* eip_mve_quant_t's three vectors */
    int32_t left[4];
    int32_t neg_right[4];
} strip_head_t;
_Static_assert(offsetof(strip_head_t, taps) == 0 && sizeof(strip_head_t) == 100,
               "strip_head_t layout (the assembly's immediate offsets, strip_scratch's 100 bytes)");

/* What a block's row needs besides its rows, head and output. */
typedef struct {
    const int32x4_t *lim;   /* act_min, act_max */
    int32_t out_zp;
    int32_t out_c;
    int32_t groups;         /* whole groups of four pixels in a row */
} grp_ctx_t;

/* A whole block's output row in assembly (below). */
typedef void (*grp_row_fn)(const grp_ctx_t *x, const int8_t *r0, const int8_t *r1, const int8_t *r2,
                           const strip_head_t *h, int8_t *out);

/* The layer's strip geometry, the same for every block. */
typedef struct {
    const eip_depthwise_conv2d_params_t *p;
    const int8_t *in;       /* this batch */
    int32_t used;           /* cells of a row: (out_w - 1) * stride_w + 3 */
    int32_t lo, hi;         /* the cells that hold input columns; the others hold the zero point */
    int32_t zp4;            /* four copies of the input zero point */
    int32_t head;           /* the head's offset in a strip, after the 3 rows */
    int32x4_t bounds[2];    /* act_min, act_max: the assembly's second pointer */
    uint16x8_t gather;      /* two cells' byte offsets in the input: 0..3, in_c .. in_c + 3 */
    grp_ctx_t grp;
    grp_row_fn row;         /* a whole block's row in assembly, or NULL (the C build, a shift to the left) */
} strip_t;

/* The first `count` (<= 4) pixels of a group: acc[j] += Sum_taps w x, the pixels `stride` cells apart. The
 * last partial block takes it (its absent channels are zeros in the strip), and the C build for every block:
 * the same sums as the group assembly. */
static inline void strip_taps_c(const int8_t *const rows[3], const int8_t *wt, int32_t stride, int32_t count,
                                int32x4_t acc[4])
{
    for (int32_t ky = 0; ky < 3; ++ky) {
        for (int32_t kx = 0; kx < 3; ++kx) {
            const int32x4_t w = vldrbq_s32(wt + (ky * 3 + kx) * 4);
            for (int32_t j = 0; j < count; ++j) {
                acc[j] = vaddq_s32(acc[j], vmulq_s32(vldrbq_s32(rows[ky] + (j * stride + kx) * 4), w));
            }
        }
    }
}

/* n bytes of v at dst, 16 at a time (the last store predicated). */
static void fill_zp(int8_t *dst, int8_t v, int32_t n)
{
    const int8x16_t z = vdupq_n_s8(v);
    for (; n > 0; n -= 16, dst += 16) {
        vstrbq_p_s8(dst, z, vctp8q((uint32_t)n));
    }
}

/* Channels [c, c + n) of input row iy into a strip row. */
static __attribute__((noinline)) void strip_fill(const strip_t *s, int32_t c, int32_t n, int32_t iy, int8_t *row)
{
    const eip_depthwise_conv2d_params_t *p = s->p;
    /* locals: the row's stores could alias *s otherwise, and each cell would reload them */
    const int32_t used = s->used, lo = s->lo, hi = s->hi, zp4 = s->zp4, in_c = p->in_c;
    int32_t *cell = (int32_t *)(void *)row;   /* 4-byte aligned: the planned scratch is, and rows are whole cells */
    if (iy < 0 || iy >= p->in_h) {
        for (int32_t q = 0; q < used; ++q) {
            cell[q] = zp4;
        }
        return;
    }
    for (int32_t q = 0; q < lo; ++q) {
        cell[q] = zp4;
    }
    const int8_t *src = s->in + (iy * p->in_w + (lo - p->pad_left)) * in_c + c;
    if (n == 4) {   /* two cells per gather of 8 codes, an odd last cell alone */
        const uint16x8_t gather = s->gather;
        int8_t *dst = row + 4 * lo;
        int32_t pairs = (hi - lo) / 2;
        for (; pairs > 0; --pairs, src += 2 * in_c, dst += 8) {
            vstrbq_s16(dst, vldrbq_gather_offset_s16(src, gather));
        }
        if ((hi - lo) % 2 != 0) {
            memcpy(dst, src, 4);
        }
    } else {
        const mve_pred16_t lanes = vctp32q((uint32_t)n);
        for (int32_t q = lo; q < hi; ++q, src += in_c) {
            vstrbq_s32(row + 4 * q, vldrbq_z_s32(src, lanes));   /* absent channels 0 */
        }
    }
    for (int32_t q = hi; q < used; ++q) {
        cell[q] = zp4;
    }
}

/* The head of the block of channels [c, c + 4) (fewer in the last block). Each tap's codes widened and
 * narrowed back: the absent channels' load gives zeros, and the filter sum comes with the copy. */
static void strip_head(const strip_t *s, const int8_t *filter, const int32_t *bias, int32_t c, strip_head_t *h)
{
    const eip_depthwise_conv2d_params_t *p = s->p;
    const int32_t in_c = p->in_c;
    const mve_pred16_t lanes = vctp32q((uint32_t)(in_c - c));
    const int8_t *w = filter + c;
    int32x4_t wsum = vdupq_n_s32(0);
#pragma GCC unroll 9
    for (int32_t t = 0; t < 9; ++t, w += in_c) {
        const int32x4_t tap = vldrbq_z_s32(w, lanes);
        vstrbq_s32(h->taps + 4 * t, tap);
        wsum = vaddq_s32(wsum, tap);
    }
    const int32x4_t b = bias != 0 ? vldrwq_z_s32(bias + c, lanes) : vdupq_n_s32(0);
    vstrwq_s32(h->folded, vsubq_s32(b, vmulq_n_s32(wsum, p->in_zp)));
    const eip_mve_quant_t q = eip_mve_quant_load(p->multiplier, p->shift, c, lanes);
    vstrwq_s32(h->multiplier, q.multiplier);
    vstrwq_s32(h->left, q.left);
    vstrwq_s32(h->neg_right, q.neg_right);
}

#if !defined(EIP_MVE_C_LOOPS)
/* N (1 .. 4) pixels of a whole block, `stride` cells apart: each filter tap loaded once for all N (N
 * accumulators, the tap and a temporary), then each pixel's output step with the block's multiplier and
 * right shift held in vector registers (every shift of the layer < 0: no pre-shift, the tie correction
 * always applies, as eip_mve_mbqm), + out_zp, the clamp (the lower bound in the tap's register, the upper
 * reloaded) and the store. 3 instructions per tap and pixel, 10 per output. */
#define GRP_X(S, R, KX, J, ACC)                                                                                \
    "vldrb.s32 %q[t], [%[r" STR(R) "], #((" STR(J) ")*(" STR(S) ")+(" STR(KX) "))*4]\n"                       \
    "vmul.i32 %q[t], %q[t], %q[w]\n"                                                                            \
    "vadd.i32 %q[" ACC "], %q[" ACC "], %q[t]\n"
#define GRP_W(R, KX) "vldrb.s32 %q[w], [%[h], #(" STR(R) "*3+" STR(KX) ")*4]\n"
#define GRP_TAP0(S, R, KX)
#define GRP_TAP1(S, R, KX) GRP_W(R, KX) GRP_X(S, R, KX, 0, "a0")
#define GRP_TAP2(S, R, KX) GRP_TAP1(S, R, KX) GRP_X(S, R, KX, 1, "a1")
#define GRP_TAP3(S, R, KX) GRP_TAP2(S, R, KX) GRP_X(S, R, KX, 2, "a2")
#define GRP_TAP4(S, R, KX) GRP_TAP3(S, R, KX) GRP_X(S, R, KX, 3, "a3")
#define GRP_TAPS(N, S)                                                                                         \
    GRP_TAP##N(S, 0, 0) GRP_TAP##N(S, 0, 1) GRP_TAP##N(S, 0, 2) GRP_TAP##N(S, 1, 0) GRP_TAP##N(S, 1, 1)        \
    GRP_TAP##N(S, 1, 2) GRP_TAP##N(S, 2, 0) GRP_TAP##N(S, 2, 1) GRP_TAP##N(S, 2, 2)                            \
    "vldrw.32 %q[w], [%[lim]]\n"
#define GRP_OUT(ACC)                                                                                           \
    "vqrdmulh.s32 %q[" ACC "], %q[" ACC "], %q[m]\n"                                                           \
    "vshr.s32 %q[t], %q[" ACC "], #31\n"                                                                        \
    "vqadd.s32 %q[" ACC "], %q[" ACC "], %q[t]\n"                                                               \
    "vrshl.s32 %q[" ACC "], %q[" ACC "], %q[sh]\n"                                                              \
    "vadd.i32 %q[" ACC "], %q[" ACC "], %[zp]\n"                                                                \
    "vmax.s32 %q[" ACC "], %q[" ACC "], %q[w]\n"                                                                \
    "vldrw.32 %q[t], [%[lim], #16]\n"                                                                           \
    "vmin.s32 %q[" ACC "], %q[" ACC "], %q[t]\n"                                                                \
    "vstrb.32 %q[" ACC "], [%[out]]\n"                                                                          \
    "add %[out], %[out], %[oc]\n"
#define GRP_OUTS0
#define GRP_OUTS1 GRP_OUT("a0")
#define GRP_OUTS2 GRP_OUTS1 GRP_OUT("a1")
#define GRP_OUTS3 GRP_OUTS2 GRP_OUT("a2")
#define GRP_OUTS4 GRP_OUTS3 GRP_OUT("a3")
#define GRP_ASM(N, S)                                                                                          \
    __asm volatile(GRP_TAPS(N, S) GRP_OUTS##N                                                                  \
                   : [a0] "+w"(a0), [a1] "+w"(a1), [a2] "+w"(a2), [a3] "+w"(a3), [w] "=&w"(w), [t] "=&w"(t),    \
                     [out] "+l"(out)                                                                           \
                   : [r0] "l"(r0), [r1] "l"(r1), [r2] "l"(r2), [h] "l"(h), [lim] "r"(lim), [zp] "r"(out_zp),   \
                     [oc] "r"(out_c), [m] "w"(m), [sh] "w"(sh)                                                 \
                   : "memory")

/* One output row of a whole block (every shift < 0): groups of four pixels, then the row's last T (0 .. 3)
 * pixels, stride S along the row. One function per (S, T), chosen per layer, so that the row's loop holds
 * only its pointers and the block's multiplier and shift vectors. */
#define GRP_ROW_FN(NAME, S, T)                                                                                 \
    static __attribute__((noinline)) void NAME(const grp_ctx_t *x, const int8_t *r0, const int8_t *r1,          \
                                               const int8_t *r2, const strip_head_t *h, int8_t *out)           \
    {                                                                                                          \
        const int32x4_t folded = vldrwq_s32(h->folded), m = vldrwq_s32(h->multiplier);                         \
        const int32x4_t sh = vldrwq_s32(h->neg_right);                                                         \
        const int32x4_t *lim = x->lim;                                                                         \
        const int32_t out_zp = x->out_zp, out_c = x->out_c;                                                    \
        int32x4_t w, t;                                                                                        \
        for (int32_t g = x->groups; g > 0; --g, r0 += 16 * (S), r1 += 16 * (S), r2 += 16 * (S)) {              \
            int32x4_t a0 = folded, a1 = folded, a2 = folded, a3 = folded;                                      \
            GRP_ASM(4, S);                                                                                     \
        }                                                                                                      \
        if ((T) > 0) {                                                                                         \
            int32x4_t a0 = folded, a1 = folded, a2 = folded, a3 = folded;                                      \
            GRP_ASM(T, S);                                                                                     \
        }                                                                                                      \
    }
GRP_ROW_FN(grp_row_s1_t0, 1, 0)
GRP_ROW_FN(grp_row_s1_t1, 1, 1)
GRP_ROW_FN(grp_row_s1_t2, 1, 2)
GRP_ROW_FN(grp_row_s1_t3, 1, 3)
GRP_ROW_FN(grp_row_s2_t0, 2, 0)
GRP_ROW_FN(grp_row_s2_t1, 2, 1)
GRP_ROW_FN(grp_row_s2_t2, 2, 2)
GRP_ROW_FN(grp_row_s2_t3, 2, 3)
static const grp_row_fn grp_rows[2][4] = {
    {grp_row_s1_t0, grp_row_s1_t1, grp_row_s1_t2, grp_row_s1_t3},
    {grp_row_s2_t0, grp_row_s2_t1, grp_row_s2_t2, grp_row_s2_t3},
};
#endif

/* One output row of the block of channels [c, c + n) from its three strip rows, four pixels at a time through
 * strip_taps_c: a last partial block, a layer with a shift to the left, and the C build. */
static void strip_row_c(const strip_t *s, const strip_head_t *h, int32_t n, const int8_t *r0, const int8_t *r1,
                        const int8_t *r2, int8_t *out)
{
    const eip_depthwise_conv2d_params_t *p = s->p;
    const int32_t sw = p->stride_w, out_w = p->out_w, out_c = p->out_c, out_zp = p->out_zp;
    const int32x4_t folded = vldrwq_s32(h->folded);
    const eip_mve_quant_t q = {vldrwq_s32(h->multiplier), vldrwq_s32(h->left), vldrwq_s32(h->neg_right)};
    const int32x4_t lo = s->bounds[0], hi = s->bounds[1];
    const mve_pred16_t lanes = vctp32q((uint32_t)n);
    for (int32_t ox = 0; ox < out_w; ox += 4, out += 4 * out_c) {
        const int32_t at = ox * sw * 4;
        const int32_t count = out_w - ox < 4 ? out_w - ox : 4;
        const int8_t *const rows[3] = {r0 + at, r1 + at, r2 + at};
        int32x4_t acc[4] = {folded, folded, folded, folded};
        strip_taps_c(rows, h->taps, sw, count, acc);
        for (int32_t j = 0; j < count; ++j) {
            const int32x4_t y = vminq_s32(vmaxq_s32(vaddq_n_s32(eip_mve_mbqm(acc[j], &q), out_zp), lo), hi);
            if (n == 4) {
                vstrbq_s32(out + j * out_c, y);
            } else {
                vstrbq_p_s32(out + j * out_c, y, lanes);
            }
        }
    }
}

/* One output row of the block of channels [c, c + n): whole blocks in assembly where the layer has it. */
static inline void strip_row(const strip_t *s, const strip_head_t *h, int32_t n, const int8_t *r0,
                             const int8_t *r1, const int8_t *r2, int8_t *out)
{
    if (n == 4 && s->row != 0) {
        s->row(&s->grp, r0, r1, r2, h, out);
    } else {
        strip_row_c(s, h, n, r0, r1, r2, out);
    }
}

/* Output row oy of the block of channels [c, c + n) with its own strip (the lean path): its head and 3 rows
 * (input rows iy0 .. iy0 + 2) written, then the row. A function of its own so that the fill and group loops
 * see few live values. */
static __attribute__((noinline)) void strip_block_row(const strip_t *s, int8_t *strip, const int8_t *filter,
                                                      const int32_t *bias, int32_t iy0, int32_t c, int8_t *out)
{
    const int32_t n = s->p->in_c - c < 4 ? s->p->in_c - c : 4, row = 4 * s->used;
    strip_head_t *h = (strip_head_t *)(void *)(strip + s->head);
    strip_head(s, filter, bias, c, h);
    for (int32_t ky = 0; ky < 3; ++ky) {
        strip_fill(s, c, n, iy0 + ky, strip + ky * row);
    }
    strip_row(s, h, n, strip, strip + row, strip + 2 * row, out + c);
}

/* Input row iy into ring slot `at` (a byte offset in each block's strip) of every block, cells [lo, hi): a
 * pixel's channels loaded 16 at a time and scattered as four blocks' cells, `one` bytes apart (absent channels
 * of a last partial block 0), or with 4 or 8 channels, 16 codes of the row at a time as the cells they fill;
 * the zero point there for a row outside the image. */
static __attribute__((noinline)) void ring_fill(const strip_t *s, int8_t *scratch, int32_t one, int32_t at,
                                                int32_t iy)
{
    const eip_depthwise_conv2d_params_t *p = s->p;
    const int32_t c = p->in_c, blocks = (c + 3) / 4, lo = s->lo, hi = s->hi;
    if (iy < 0 || iy >= p->in_h) {
        const int32x4_t zp4 = vdupq_n_s32(s->zp4);
        for (int32_t k = 0; k < blocks; ++k) {
            int8_t *dst = scratch + k * one + at + 4 * lo;
            for (int32_t left = hi - lo; left > 0; left -= 4, dst += 16) {
                vstrwq_p_s32((int32_t *)(void *)dst, zp4, vctp32q((uint32_t)left));
            }
        }
        return;
    }
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)one);
    const int8_t *src = s->in + (iy * p->in_w + lo - p->pad_left) * c;
    int8_t *cell = scratch + at + 4 * lo;
    if (c == 4 || c == 8) {   /* 16 codes are four cells of one block, or two pixels' cells of two */
        const uint32x4_t lane = vidupq_n_u32(0, 1);
        const uint32x4_t two = vaddq_u32(vmulq_n_u32(vshrq_n_u32(lane, 1), 4),                  /* pixel */
                                         vmulq_n_u32(vandq_u32(lane, vdupq_n_u32(1)), (uint32_t)one));   /* block */
        const uint32x4_t at4 = c == 4 ? vmulq_n_u32(lane, 4) : two;
        const int32_t step = c == 4 ? 16 : 8;
        int32_t left = (hi - lo) * c;
        for (; left >= 16; left -= 16, src += 16, cell += step) {
            vstrwq_scatter_offset_s32((int32_t *)(void *)cell, at4, vreinterpretq_s32_s8(vldrbq_s8(src)));
        }
        if (left > 0) {
            const int8x16_t x = vldrbq_z_s8(src, vctp8q((uint32_t)left));
            vstrwq_scatter_offset_p_s32((int32_t *)(void *)cell, at4, vreinterpretq_s32_s8(x),
                                        vctp32q((uint32_t)left / 4));
        }
        return;
    }
    if (c % 16 == 0) {
        for (int32_t q = lo; q < hi; ++q, cell += 4) {
            int8_t *dst = cell;
            for (int32_t k = 0; k < blocks; k += 4, src += 16, dst += 4 * one) {
                vstrwq_scatter_offset_s32((int32_t *)(void *)dst, offsets, vreinterpretq_s32_s8(vldrbq_s8(src)));
            }
        }
        return;
    }
    for (int32_t q = lo; q < hi; ++q, cell += 4, src += c) {
        int8_t *dst = cell;
        for (int32_t k = 0; k < blocks; k += 4, dst += 4 * one) {
            const int8x16_t x = vldrbq_z_s8(src + 4 * k, vctp8q((uint32_t)(c - 4 * k)));
            vstrwq_scatter_offset_p_s32((int32_t *)(void *)dst, offsets, vreinterpretq_s32_s8(x),
                                        vctp32q((uint32_t)(blocks - k)));
        }
    }
}

/* Output row oy of every block from its ring (rows at at[0..2] in each block's strip). */
static __attribute__((noinline)) void ring_row(const strip_t *s, int8_t *scratch, int32_t one, const int32_t at[3],
                                               int8_t *out)
{
    const int32_t c = s->p->in_c, a0 = at[0], a1 = at[1], a2 = at[2], head = s->head;
    for (int32_t k = 0; 4 * k < c; ++k, scratch += one) {
        const int32_t n = c - 4 * k < 4 ? c - 4 * k : 4;
        strip_row(s, (const strip_head_t *)(const void *)(scratch + head), n, scratch + a0, scratch + a1,
                  scratch + a2, out + 4 * k);
    }
}

/* One batch through the strip, output rows outermost (the streaming contract): every block of output row oy
 * before row oy + 1, its input rows oy * stride_h - pad_top .. + 2 in the strips first. */
static __attribute__((noinline)) void strip_batch(const eip_depthwise_conv2d_params_t *p, const int8_t *in,
                                                  const int8_t *filter, const int32_t *bias, int8_t *out)
{
    strip_t s;
    s.p = p;
    s.in = in;
    s.used = (p->out_w - 1) * p->stride_w + 3;
    s.lo = p->pad_left < s.used ? p->pad_left : s.used;
    s.hi = p->pad_left + p->in_w < s.used ? p->pad_left + p->in_w : s.used;
    s.hi = s.hi > s.lo ? s.hi : s.lo;
    const int8_t zp = (int8_t)p->in_zp;
    const int8_t zps[4] = {zp, zp, zp, zp};
    memcpy(&s.zp4, zps, 4);
    s.bounds[0] = vdupq_n_s32(p->act_min);
    s.bounds[1] = vdupq_n_s32(p->act_max);
    const uint16x8_t lane = vidupq_n_u16(0, 1);
    s.gather = vaddq_u16(vandq_u16(lane, vdupq_n_u16(3)), vmulq_n_u16(vshrq_n_u16(lane, 2), (uint16_t)p->in_c));
    int right_shifts = 1;
    for (int32_t c = 0; c < p->out_c; ++c) {
        right_shifts &= p->shift[c] < 0;
    }
    s.grp.lim = s.bounds;
    s.grp.out_zp = p->out_zp;
    s.grp.out_c = p->out_c;
    s.grp.groups = p->out_w / 4;
#if !defined(EIP_MVE_C_LOOPS)
    s.row = right_shifts && p->stride_w <= 2 ? grp_rows[p->stride_w - 1][p->out_w % 4] : 0;
#else
    s.row = 0;
#endif
    const int32_t c = p->in_c, row = s.used * 4;
    s.head = 3 * row;
    const int32_t one = s.head + (int32_t)sizeof(strip_head_t), blocks = (c + 3) / 4;
    if (p->strip_blocks < blocks) {   /* one strip, its head and rows written by every block of every row */
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            int8_t *o = out + oy * p->out_w * p->out_c;
            for (int32_t k = 0; k < blocks; ++k) {
                strip_block_row(&s, p->scratch, filter, bias, oy * p->stride_h - p->pad_top, 4 * k, o);
            }
        }
        return;
    }
    for (int32_t k = 0; k < blocks; ++k) {   /* every pad cell of the ring, then the heads */
        fill_zp(p->scratch + k * one, (int8_t)p->in_zp, 3 * row);
        strip_head(&s, filter, bias, 4 * k, (strip_head_t *)(void *)(p->scratch + k * one + s.head));
    }
    int32_t held[3] = {INT32_MIN, INT32_MIN, INT32_MIN};   /* the input row in each ring slot, every block alike */
    int32_t slot0 = ((-p->pad_top % 3) + 3) % 3;             /* the slot of the first row an output row reads */
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int32_t at[3];
        for (int32_t ky = 0, slot = slot0; ky < 3; ++ky, slot = slot == 2 ? 0 : slot + 1) {
            at[ky] = slot * row;
            if (held[slot] != iy0 + ky) {
                held[slot] = iy0 + ky;
                ring_fill(&s, p->scratch, one, at[ky], iy0 + ky);
            }
        }
        ring_row(&s, p->scratch, one, at, out + oy * p->out_w * p->out_c);
        slot0 = (slot0 + p->stride_h) % 3;
    }
}

/* One 4-channel block's constants for the direct loops; the folded bias only where the row has interior
 * pixels (the border path starts from the bias). */
static inline void block_setup(block_t *b, const int8_t *filter, const int32_t *bias, int8_t *out, int32_t c,
                               int folded)
{
    const eip_depthwise_conv2d_params_t *p = b->p;
    b->filter = filter + c;
    b->out = out + c;
    b->c = c;
    b->lanes = vctp32q((uint32_t)(p->out_c - c));
    b->bias = bias != 0 ? vldrwq_z_s32(bias + c, b->lanes) : vdupq_n_s32(0);
    if (folded) {
        const int32_t taps = p->filter_h * p->filter_w;
        int32x4_t wsum = vdupq_n_s32(0);
        for (int32_t t = 0; t < taps; ++t) {
            wsum = vaddq_s32(wsum, vldrbq_z_s32(b->filter + t * p->out_c, b->lanes));
        }
        b->folded = vsubq_s32(b->bias, vmulq_n_s32(wsum, p->in_zp));
    }
    b->quant = eip_mve_quant_load(p->multiplier, p->shift, c, b->lanes);
}

/* One batch through the direct loops, output rows outermost (the streaming contract), every block of a row
 * before the next. */
static __attribute__((noinline)) void direct_batch(const eip_depthwise_conv2d_params_t *p, const int8_t *in,
                                                   const int8_t *filter, const int32_t *bias, int8_t *out)
{
    const int32_t span_h = (p->filter_h - 1) * p->dilation_h + 1;
    const int32_t span_w = (p->filter_w - 1) * p->dilation_w + 1;
    const int32_t y_lo = first_inside(p->pad_top, p->stride_h);
    const int32_t y_hi = end_inside(p->in_h, p->pad_top, p->stride_h, span_h);
    const int32_t x_lo = first_inside(p->pad_left, p->stride_w);
    int32_t x_hi = end_inside(p->in_w, p->pad_left, p->stride_w, span_w);
    x_hi = x_hi > p->out_w ? p->out_w : x_hi;
    block_t b;
    b.p = p;
    b.in = in;
    b.out_zp = p->out_zp;
    b.act_min = vdupq_n_s32(p->act_min);
    b.act_max = vdupq_n_s32(p->act_max);
    b.folded = vdupq_n_s32(0);
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int interior_y = oy >= y_lo && oy < y_hi;
        for (int32_t c = 0; c < p->out_c; c += 4) {
            block_setup(&b, filter, bias, out, c, interior_y && x_lo < x_hi);
            block_row(&b, p->out_c - c >= 4 ? &whole : &partial, oy, x_lo, x_hi, interior_y);
        }
    }
}

static void depthwise_batch(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                            const int32_t *bias, int8_t *out)
{
    const int three = p->filter_h == 3 && p->filter_w == 3 && p->dilation_h == 1 && p->dilation_w == 1;
    if (p->scratch != 0 && p->strip_blocks > 0 && three && (p->stride_w == 1 || p->stride_w == 2)) {
        strip_batch(p, in, filter, bias, out);
    } else {
        direct_batch(p, in, filter, bias, out);
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
