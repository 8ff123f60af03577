/*
 * CONV_2D, int8, Arm DSP variant: same arithmetic as ../conv2d.c (bit-exact), two MACs per SMLAD.
 *
 * Each output pixel's receptive field is unrolled once (im2col) into int16 values x - in_zp (padding
 * becomes 0, which adds nothing, as the reference's skipped taps), then every output channel is a dot
 * product with its int8 filter row. Within each whole group of four the column is stored as x0 x2 x1 x3,
 * the order in which SXTB16 unpacks four filter bytes, so one load of filter bytes feeds two SMLADs.
 * Four pixels per step share each channel's filter loads (the streaming contract's group of four,
 * ops/conv2d.py). Integer sums wrap modulo 2^32 (SMLAD, eip_add_wrap),
 * so only the order of additions differs from the reference; the requantization is the layer's proven kind
 * (requantize.h), equal to eip_mbqm. The four columns live in the layer's scratch, which the memory plan
 * places in the arena; without it (NULL) the direct loop runs. Built with a model's eip_model_kernels.h
 * (../kernel_paths.h), the direct loop, the 64-bit channel loop and the clamps are left out where no layer of
 * the model takes them.
 */
#include "eip_kernels.h"
#include "../mac_params.h"
#include "../fixedpoint.h"
#include "../kernel_paths.h"
#include "requantize.h"
#include "simd.h"


/*
 * The four pixels' columns share one block of scratch, interleaved so one pointer walks them all: for each
 * whole group q of four taps, lane 0's x0 x2 x1 x3, then lane 1's, 2's and 3's (16 halfwords from 16q); after
 * the Q = k / 4 groups, the k % 4 remaining taps as four-lane rows. A writer fills one pixel's lane in tap
 * order.
 */
#define LANES 4
typedef struct {
    int16_t *quad;       /* the current group of four of this lane */
    int32_t r;           /* taps already in it */
    int32_t quads_left;  /* whole groups not yet complete */
    int16_t *tail;       /* the next slot of this lane after the groups */
} column_writer_t;

static column_writer_t column_writer(int16_t *cols, int32_t lane, int32_t k)
{
    const column_writer_t w = {cols + 4 * lane, 0, k >> 2, cols + 4 * LANES * (k >> 2) + lane};
    return w;
}

/* One value in natural order (swap_quads reorders the groups afterwards). */
static inline void put(column_writer_t *w, int16_t v)
{
    if (w->quads_left > 0) {
        w->quad[w->r] = v;
        if (++w->r == 4) {
            w->r = 0;
            w->quad += 4 * LANES;
            --w->quads_left;
        }
    } else {
        *w->tail = v;
        w->tail += LANES;
    }
}

/* n input codes as int16 x - in_zp. Whole groups of four, started at a group's beginning, are written at
 * once in the order x0 x2 x1 x3; other runs in natural order through put. */
static inline __attribute__((always_inline)) void widen(const int8_t *src, int32_t n, int32_t in_zp,
                                                        column_writer_t *w)
{
    if (w->r == 0 && (n & 3) == 0 && (n >> 2) <= w->quads_left) {
        const int32_t minus_zp = eip_pair16(-in_zp);
        for (int32_t i = 0; i < n; i += 4) {
            const int32_t x = eip_load_s8x4(src + i);
            eip_store_s16x2(w->quad, __sxtab16(minus_zp, x));
            eip_store_s16x2(w->quad + 2, eip_sxtab16_odd(minus_zp, x));
            w->quad += 4 * LANES;
        }
        w->quads_left -= n >> 2;
        return;
    }
    for (int32_t i = 0; i < n; ++i) {
        put(w, (int16_t)(src[i] - in_zp));
    }
}

/* The word at x as a group of four lanes x - in_zp (x0 x2 x1 x3) at dst (8-byte aligned; GCC stores it by two
 * STR). */
static inline __attribute__((always_inline)) void put_tap(int16_t *dst, int32_t minus_zp, const int8_t *x)
{
    const int32_t bytes = eip_load_s8x4(x);
    const int32_t lanes[2] = {__sxtab16(minus_zp, bytes), eip_sxtab16_odd(minus_zp, bytes)};
    memcpy(__builtin_assume_aligned(dst, 8), lanes, sizeof lanes);
}

/* n > 0 groups of four codes from src into one lane's groups from dst (32 bytes apart), two per turn. */
static inline __attribute__((always_inline)) int16_t *widen_groups(int16_t *dst, const int8_t *src, int32_t n,
                                                                   int32_t minus_zp)
{
    if ((n & 1) != 0) {
        put_tap(dst, minus_zp, src);
        src += 4;
        dst += 4 * LANES;
    }
    n >>= 1;
#if !defined(EIP_DSP_C_LOOPS)
    if (n > 0) {   /* the loop below as two LDR, four SXTAB16 and two STRD (GCC: STR pairs, 14 per turn) */
        int32_t a, b, t;
        __asm__ volatile("1: ldr     %[a], [%[src]], #4\n"
                         "   ldr     %[b], [%[src]], #4\n"
                         "   sxtab16 %[t], %[mzp], %[a]\n"
                         "   sxtab16 %[a], %[mzp], %[a], ror #8\n"
                         "   strd    %[t], %[a], [%[dst]], #32\n"
                         "   sxtab16 %[t], %[mzp], %[b]\n"
                         "   sxtab16 %[b], %[mzp], %[b], ror #8\n"
                         "   strd    %[t], %[b], [%[dst]], #32\n"
                         "   subs    %[n], %[n], #1\n"
                         "   bne     1b\n"
                         : [src] "+r"(src), [dst] "+r"(dst), [n] "+r"(n), [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t)
                         : [mzp] "r"(minus_zp)
                         : "cc", "memory");
    }
#else
    for (; n > 0; --n, src += 8, dst += 8 * LANES) {
        put_tap(dst, minus_zp, src);
        put_tap(dst + 4 * LANES, minus_zp, src + 4);
    }
#endif
    return dst;
}

/* n >= 0 groups of four zeros (padding taps) into one lane's groups from dst. */
static inline __attribute__((always_inline)) int16_t *zero_groups(int16_t *dst, int32_t n)
{
    for (; n > 0; --n, dst += 4 * LANES) {
        const int32_t zeros[2] = {0, 0};
        memcpy(__builtin_assume_aligned(dst, 8), zeros, sizeof zeros);
    }
    return dst;
}

/* Natural order -> x0 x2 x1 x3 within each whole group of four of `lane`. */
static void swap_quads(int16_t *cols, int32_t lane, int32_t q_count)
{
    for (int32_t q = 0; q < q_count; ++q) {
        int16_t *g = cols + 4 * LANES * q + 4 * lane;
        const int16_t t = g[1];
        g[1] = g[2];
        g[2] = t;
    }
}

/* The receptive field of output pixel (oy, ox) into `lane` of cols (the layers
 * fill_groups below does not take: channels not whole groups of four, or dilation across). */
static void fill_column(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int16_t *cols, int32_t lane, int32_t k)
{
    const int32_t fc = p->filter_c;
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t in_x0 = ox * p->stride_w - p->pad_left;
    column_writer_t w = column_writer(cols, lane, k);
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t iy = in_y0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
            const int32_t ix = in_x0 + kx * p->dilation_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (int32_t j = 0; j < fc; ++j) {   /* padding: x - in_zp = 0 */
                    put(&w, 0);
                }
            } else {
                widen(in + (iy * p->in_w + ix) * p->in_c, fc, p->in_zp, &w);
            }
        }
    }
    if ((fc & 3) != 0) {
        swap_quads(cols, lane, k >> 2);
    }
}

/* fill_column where every tap is whole groups of four (filter_c == in_c, a multiple of 4, no dilation across):
 * a row's taps inside the image are one run of groups, widened two groups per turn; taps outside are zeros. */
static int whole_groups(const eip_conv2d_params_t *p)
{
    return (p->filter_c & 3) == 0 && p->filter_c == p->in_c && p->dilation_w == 1;
}

static void fill_groups(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int16_t *cols,
                        int32_t lane)
{
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    const int32_t tap_groups = p->filter_c >> 2, row_groups = p->filter_w * tap_groups;
    const int32_t in_y0 = oy * p->stride_h - p->pad_top, in_x0 = ox * p->stride_w - p->pad_left;
    const int32_t kx0 = in_x0 < 0 ? -in_x0 : 0;   /* the row's taps inside the image: [kx0, kx1) */
    const int32_t kx1 = in_x0 + p->filter_w > p->in_w ? p->in_w - in_x0 : p->filter_w;
    const int32_t before = kx0 * tap_groups, inside = kx1 > kx0 ? (kx1 - kx0) * tap_groups : 0;
    int16_t *dst = cols + 4 * lane;
    for (int32_t ky = 0, iy = in_y0; ky < p->filter_h; ++ky, iy += p->dilation_h) {
        if (iy < 0 || iy >= p->in_h || inside == 0) {
            dst = zero_groups(dst, row_groups);
            continue;
        }
        dst = zero_groups(dst, before);
        dst = widen_groups(dst, in + (iy * p->in_w + in_x0 + kx0) * p->in_c, inside, minus_zp);
        dst = zero_groups(dst, row_groups - before - inside);
    }
}

/* acc[lane] += the dot product of the filter row w (length k) with the four pixels' columns (interleaved in
 * cols, LANES): the C loop of the layers the assembly below does not take. */
static void dot_1x4(const int8_t *w, const int16_t *cols, int32_t k, int32_t acc[LANES])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t q = k >> 2; q > 0; --q) {
        int32_t x[8];   /* each lane's x02 x13: one 32-byte group, 8-byte aligned */
        memcpy(x, __builtin_assume_aligned(cols, 8), sizeof x);
        cols += 4 * LANES;
        const int32_t v = eip_load_s8x4(w);
        w += 4;
        const int32_t w02 = __sxtb16(v), w13 = eip_sxtb16_odd(v);
        a0 = __smlad(w13, x[1], __smlad(w02, x[0], a0));
        a1 = __smlad(w13, x[3], __smlad(w02, x[2], a1));
        a2 = __smlad(w13, x[5], __smlad(w02, x[4], a2));
        a3 = __smlad(w13, x[7], __smlad(w02, x[6], a3));
    }
    for (int32_t r = k & 3; r > 0; --r, ++w, cols += LANES) {
        a0 = eip_add_wrap(a0, w[0] * cols[0]);
        a1 = eip_add_wrap(a1, w[0] * cols[1]);
        a2 = eip_add_wrap(a2, w[0] * cols[2]);
        a3 = eip_add_wrap(a3, w[0] * cols[3]);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static inline int8_t requantize(const eip_conv2d_params_t *p, int32_t acc, const int32_t *bias, int32_t oc)
{
    if (bias != 0) {
        acc = eip_add_wrap(acc, bias[oc]);
    }
    return eip_dsp_requantize_built(EIP_MODEL_CONV_REQUANTS, p->requant, acc, p->multiplier[oc], p->shift[oc],
                                    p->out_zp, p->act_min, p->act_max);
}

/* Every output channel of four pixels whose columns are interleaved in cols (row_len long; lane i's outputs
 * at out + offset[i]), one channel at a time. */
static void channels_c(const eip_conv2d_params_t *p, const int8_t *rows, int32_t row_len, const int32_t *bias,
                       const int16_t *cols, int8_t *out, const int32_t offset[LANES])
{
    for (int32_t oc = 0; oc < p->out_c; ++oc) {
        int32_t acc[LANES] = {0, 0, 0, 0};
        dot_1x4(rows + oc * row_len, cols, row_len, acc);
        for (int32_t i = 0; i < LANES; ++i) {
            out[offset[i] + oc] = requantize(p, acc[i], bias, oc);
        }
    }
}

/*
 * The channel loop of four pixels for the layers most models have (requantization SMMULR or NO_PRESHIFT,
 * every live channel shifting right, rows of whole groups of four): one piece of assembly, so the pointers and
 * the sums stay in registers. Per channel: the bias, the dot product of its row with the four columns (per
 * four taps: LDR of the row's bytes, two SXTB16, then per pixel one LDRD of its four lanes and two SMLAD: 15
 * instructions per 16 MACs, four groups per turn, a first turn of groups % 4 entered part way), then each of
 * the four sums y requantized in 6 instructions (10 for NO_PRESHIFT's 64-bit product) by this identity: with
 * r = -shift >= 1, RDBPOT(y, r) = floor((y - (y < 0) + 2^(r-1)) / 2^r) (requantize.h) = (w + 1) >> 1 with
 * w = (y - (y < 0)) >> (r - 1) (nested floors), so RDBPOT(y, r) + out_zp = (w + 1 + 2 out_zp) >> 1, which
 * SSAT's shifted operand saturates to int8 in one instruction. QADD keeps w + 1 + 2 out_zp from wrapping
 * (a saturated sum saturates the output alike). A channel whose multiplier is 0 has y = 0 and so w = 0,
 * whatever its shift. Layers with a narrower activation range than int8 clamp the four codes as bytes of
 * one word (SSUB8 and SEL: two instructions per bound). The rows follow each other, so the row pointer runs
 * on from one channel to the next.
 */
typedef struct {
    const int16_t *cols;            /* +0: the four pixels' interleaved columns */
    int32_t groups;                 /* +4: k / 4 > 0 (the assembly keeps its turns there) */
    int32_t entry;                  /* +8: 1: lanes 0 and 1 only (lanes 2, 3 store lane 1's pixel), else 0; the
                                     * assembly's copy: where the first turn enters */
    int32_t bias_step;              /* +12: 4, or 0 with bias at a zero */
    int32_t shift_offset;           /* +16: shift minus multiplier, in bytes */
    const int32_t *multiplier_end;  /* +20: past the last channel's multiplier */
    int32_t offset[LANES - 1];      /* +24: lanes 1..3's outputs minus lane 0's, in bytes */
    int32_t zp_round;               /* +36: 1 + 2 out_zp */
    uint32_t act_min4;              /* +40: act_min in every byte */
    uint32_t act_max4;              /* +44 */
    int32_t clamp;                  /* +48: whether the activation range is narrower than int8 */
    const int8_t *filter;           /* +52: the first channel's row; the next rows follow, 4 * groups bytes each */
    const int32_t *multiplier;      /* +56: the first channel's */
    const int32_t *bias;            /* +60: the first channel's */
    int8_t *out;                    /* +64: lane 0's first channel */
} conv_quads_t;
_Static_assert(sizeof(conv_quads_t) == 68 && sizeof(void *) == 4, "conv_quads_t layout (the assembly's offsets)");

#if !defined(EIP_DSP_C_LOOPS)
/* r4 the filter row, r5 the columns, r6 turns left, r0..r3 the four pixels' sums, r8/r9 the row's
 * sign-extended bytes, r10/r11 a column's lanes; across channels r7 the multiplier, r12 the bias, lr the
 * output. The job's first 13 words are copied to the stack. */
#define QUAD_GROUP(LABEL)                                                                                       \
    LABEL ":ldr     r8, [r4], #4\n"                                                                             \
    "   ldrd    r10, r11, [r5], #8\n"                                                                           \
    "   sxtb16  r9, r8, ror #8\n"                                                                               \
    "   sxtb16  r8, r8\n"                                                                                       \
    "   smlad   r0, r8, r10, r0\n"                                                                              \
    "   smlad   r0, r9, r11, r0\n"                                                                              \
    "   ldrd    r10, r11, [r5], #8\n"                                                                           \
    "   smlad   r1, r8, r10, r1\n"                                                                              \
    "   smlad   r1, r9, r11, r1\n"                                                                              \
    "   ldrd    r10, r11, [r5], #8\n"                                                                           \
    "   smlad   r2, r8, r10, r2\n"                                                                              \
    "   smlad   r2, r9, r11, r2\n"                                                                              \
    "   ldrd    r10, r11, [r5], #8\n"                                                                           \
    "   smlad   r3, r8, r10, r3\n"                                                                              \
    "   smlad   r3, r9, r11, r3\n"
/* The same for the first two lanes only (a last step of one or two pixels): 9 instructions per 16 MACs. */
#define HALF_GROUP(LABEL)                                                                                       \
    LABEL ":ldr     r8, [r4], #4\n"                                                                             \
    "   ldrd    r10, r11, [r5, #8]\n"                                                                           \
    "   sxtb16  r9, r8, ror #8\n"                                                                               \
    "   sxtb16  r8, r8\n"                                                                                       \
    "   smlad   r1, r8, r10, r1\n"                                                                              \
    "   smlad   r1, r9, r11, r1\n"                                                                              \
    "   ldrd    r10, r11, [r5], #32\n"                                                                          \
    "   smlad   r0, r8, r10, r0\n"                                                                              \
    "   smlad   r0, r9, r11, r0\n"
/* Sum ACC of a channel with multiplier r8 and right shift minus one r9 to (w + 1 + 2 out_zp) >> 1 saturated
 * to int8; r10 holds 1 + 2 out_zp. SMMULR: y = SMMULR(2 acc, M) (requantize.h, |acc| < 2^30). */
#define QREQ_SMMULR(ACC)                                                                                        \
    "   lsl     " ACC ", " ACC ", #1\n"                                                                         \
    "   smmulr  " ACC ", " ACC ", r8\n"                                                                         \
    "   add     " ACC ", " ACC ", " ACC ", asr #31\n"                                                           \
    "   asr     " ACC ", " ACC ", r9\n"                                                                         \
    "   qadd    " ACC ", " ACC ", r10\n"                                                                        \
    "   ssat    " ACC ", #8, " ACC ", asr #1\n"
/* NO_PRESHIFT: y = (acc * M + 2^30) >> 31 from the 64-bit product (r5 low, r6 high; |y| < 2^31, and y has
 * the sign of the high word). */
#define QREQ_WIDE(ACC)                                                                                          \
    "   smull   r5, r6, " ACC ", r8\n"                                                                          \
    "   adds    r5, r5, #0x40000000\n"                                                                          \
    "   adc     r6, r6, #0\n"                                                                                   \
    "   lsr     r5, r5, #31\n"                                                                                  \
    "   orr     " ACC ", r5, r6, lsl #1\n"                                                                      \
    "   add     " ACC ", " ACC ", r6, asr #31\n"                                                                \
    "   asr     " ACC ", " ACC ", r9\n"                                                                         \
    "   qadd    " ACC ", " ACC ", r10\n"                                                                        \
    "   ssat    " ACC ", #8, " ACC ", asr #1\n"
#define CONV_QUADS(NAME, REQ)                                                                                   \
    __asm__("   .pushsection .text." #NAME ",\"ax\",%progbits\n"                                               \
            "   .p2align 2\n"                                                                                   \
            "   .type " #NAME ", %function\n"                                                                   \
            "   .thumb_func\n" #NAME ":\n"                                                                      \
            "   push    {r4-r11, lr}\n"                                                                         \
            "   ldm     r0!, {r1-r12, lr}\n"                                                                    \
            "   push    {r1-r12, lr}\n"                                                                         \
            "   ldm     r0, {r4, r7, r12, lr}\n"                                                                \
            "   ldr     r6, [sp, #4]\n"            /* groups -> turns, and the entry of the first turn */       \
            "   adds    r5, r6, #3\n"                                                                           \
            "   lsrs    r5, r5, #2\n"                                                                           \
            "   str     r5, [sp, #4]\n"                                                                         \
            "   ldr     r3, [sp, #8]\n"           /* 1: two lanes */                                          \
            "   ands    r6, r6, #3\n"                                                                           \
            "   cbnz    r3, 8f\n"                                                                               \
            "   adr.w   r9, .Lg1" #NAME "\n"                                                                    \
            "   beq     9f\n"                                                                                   \
            "   adr.w   r9, .Lg4" #NAME "\n"                                                                    \
            "   cmp     r6, #2\n"                                                                               \
            "   blo     9f\n"                                                                                   \
            "   adr.w   r9, .Lg3" #NAME "\n"                                                                    \
            "   beq     9f\n"                                                                                   \
            "   adr.w   r9, .Lg2" #NAME "\n"                                                                    \
            "   b       9f\n"                                                                                   \
            "8: adr.w   r9, .Lh1" #NAME "\n"                                                                    \
            "   beq     9f\n"                                                                                   \
            "   adr.w   r9, .Lh4" #NAME "\n"                                                                    \
            "   cmp     r6, #2\n"                                                                               \
            "   blo     9f\n"                                                                                   \
            "   adr.w   r9, .Lh3" #NAME "\n"                                                                    \
            "   beq     9f\n"                                                                                   \
            "   adr.w   r9, .Lh2" #NAME "\n"                                                                    \
            "9: orr     r9, r9, #1\n"                                                                           \
            "   str     r9, [sp, #8]\n"                                                                         \
            "2: ldrd    r5, r6, [sp]\n"            /* columns, turns */                                         \
            "   ldrd    r8, r9, [sp, #8]\n"        /* entry, bias step */                                       \
            "   ldr     r0, [r12]\n"                                                                            \
            "   add     r12, r12, r9\n"                                                                         \
            "   mov     r1, r0\n"                                                                               \
            "   mov     r2, r0\n"                                                                               \
            "   mov     r3, r0\n"                                                                               \
            "   bx      r8\n"                                                                                   \
            QUAD_GROUP(".Lg1" #NAME) QUAD_GROUP(".Lg2" #NAME) QUAD_GROUP(".Lg3" #NAME) QUAD_GROUP(".Lg4" #NAME) \
            "   subs    r6, r6, #1\n"                                                                           \
            "   bne     .Lg1" #NAME "\n"                                                                        \
            ".Lq" #NAME ":\n"                                                                                   \
            "   ldr     r9, [sp, #16]\n"                                                                        \
            "   ldr     r9, [r7, r9]\n"            /* the shift, then right shift - 1 = ~shift */              \
            "   ldr     r8, [r7], #4\n"            /* the multiplier */                                        \
            "   mvn     r9, r9\n"                                                                               \
            "   ldr     r10, [sp, #36]\n"                                                                       \
            REQ("r0") REQ("r1") REQ("r2") REQ("r3")                                                             \
            "   ldr     r5, [sp, #48]\n"                                                                        \
            "   cbz     r5, 3f\n"                  /* the four codes as bytes of r0, clamped, back apart */     \
            "   bfi     r0, r1, #8, #8\n"                                                                       \
            "   bfi     r0, r2, #16, #8\n"                                                                      \
            "   bfi     r0, r3, #24, #8\n"                                                                      \
            "   ldrd    r5, r6, [sp, #40]\n"                                                                    \
            "   ssub8   r1, r0, r5\n"                                                                           \
            "   sel     r0, r0, r5\n"                                                                           \
            "   ssub8   r1, r6, r0\n"                                                                           \
            "   sel     r0, r0, r6\n"                                                                           \
            "   lsr     r1, r0, #8\n"                                                                           \
            "   lsr     r2, r0, #16\n"                                                                          \
            "   lsr     r3, r0, #24\n"                                                                          \
            "3: ldrd    r5, r6, [sp, #24]\n"                                                                    \
            "   ldr     r8, [sp, #32]\n"                                                                        \
            "   strb    r1, [lr, r5]\n"                                                                         \
            "   strb    r2, [lr, r6]\n"                                                                         \
            "   strb    r3, [lr, r8]\n"                                                                         \
            "   strb    r0, [lr], #1\n"                                                                         \
            "   ldr     r5, [sp, #20]\n"                                                                        \
            "   cmp     r7, r5\n"                                                                               \
            "   bne     2b\n"                                                                                   \
            "   add     sp, sp, #52\n"                                                                          \
            "   pop     {r4-r11, pc}\n"                                                                         \
            HALF_GROUP(".Lh1" #NAME) HALF_GROUP(".Lh2" #NAME) HALF_GROUP(".Lh3" #NAME) HALF_GROUP(".Lh4" #NAME) \
            "   subs    r6, r6, #1\n"                                                                           \
            "   bne     .Lh1" #NAME "\n"                                                                        \
            "   mov     r2, r1\n"                 /* lanes 2 and 3 store lane 1's pixel */                    \
            "   mov     r3, r1\n"                                                                               \
            "   b       .Lq" #NAME "\n"                                                                         \
            "   .size " #NAME ", . - " #NAME "\n"                                                               \
            "   .popsection\n")
CONV_QUADS(eip_dsp_conv_quads_smmulr, QREQ_SMMULR);
CONV_QUADS(eip_dsp_conv_quads_wide, QREQ_WIDE);
#undef QUAD_GROUP
#undef HALF_GROUP
#undef QREQ_SMMULR
#undef QREQ_WIDE
#undef CONV_QUADS
/* Local symbols of this object (no .global): the calls below resolve when it is assembled, so two exported
 * runtimes linked into one program cannot collide on them (eip_names.h renames only C symbols). */
void eip_dsp_conv_quads_smmulr(const conv_quads_t *job);
void eip_dsp_conv_quads_wide(const conv_quads_t *job);
#else
/* The same loop in C. */
static void conv_quads_c(const conv_quads_t *j, int32_t kind)
{
    const int32_t k = 4 * j->groups;
    const int8_t *row = j->filter;
    const int32_t *bias = j->bias;
    int8_t *out = j->out;
    for (const int32_t *m = j->multiplier; m != j->multiplier_end; ++m, row += k, bias += j->bias_step / 4, ++out) {
        int32_t acc[LANES] = {bias[0], bias[0], bias[0], bias[0]};
        dot_1x4(row, j->cols, k, acc);
        if (j->entry == 1) {   /* as the assembly's two-lane loop: lanes 2 and 3 store lane 1's pixel */
            acc[2] = acc[3] = acc[1];
        }
        const int32_t rs = -*(const int32_t *)(const void *)((const int8_t *)m + j->shift_offset) - 1;
        for (int32_t i = 0; i < LANES; ++i) {
            const int32_t y = kind == EIP_REQUANT_SMMULR ? eip_dsp_smmulr((int32_t)((uint32_t)acc[i] << 1), *m)
                                                         : (int32_t)(((int64_t)acc[i] * *m + (1 << 30)) >> 31);
            const int64_t w = (int64_t)((y - (y < 0)) >> (rs & 31)) + j->zp_round;   /* rs < 0: y = 0 */
            int32_t v = (int32_t)((w < INT32_MIN ? INT32_MIN : w > INT32_MAX ? INT32_MAX : w) >> 1);
            v = v < -128 ? -128 : v > 127 ? 127 : v;
            if (j->clamp) {
                const int32_t lo = (int8_t)j->act_min4, hi = (int8_t)j->act_max4;
                v = v < lo ? lo : v > hi ? hi : v;
            }
            out[i == 0 ? 0 : j->offset[i - 1]] = (int8_t)v;
        }
    }
}
#endif

/* Whether the channel loop above takes the layer: per-channel conditions, checked once per call. */
static int quads_fit(const eip_conv2d_params_t *p, int32_t row_len)
{
    if ((p->requant != EIP_REQUANT_SMMULR && p->requant != EIP_REQUANT_NO_PRESHIFT) || (row_len & 3) != 0) {
        return 0;
    }
    for (int32_t c = 0; c < p->out_c; ++c) {
        if (p->shift[c] > -1 && p->multiplier[c] != 0) {
            return 0;
        }
    }
    return 1;
}

static void conv_quads(const conv_quads_t *j, int32_t kind)
{
#if !defined(EIP_DSP_C_LOOPS)
    /* the 64-bit kind only where a layer of the model needs it (kernel_paths.h) */
    const int wide = (EIP_MODEL_CONV_REQUANTS & (1 << EIP_REQUANT_NO_PRESHIFT)) != 0 && kind != EIP_REQUANT_SMMULR;
    (wide ? eip_dsp_conv_quads_wide : eip_dsp_conv_quads_smmulr)(j);
#else
    conv_quads_c(j, kind);
#endif
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

/* First layers (one to three input channels, no groups, more than one tap): the receptive field packed tap
 * after tap (k codes, then zero lanes up to k4 = k rounded up to four), so the whole column is SIMD groups with no lane wasted
 * between taps. The codes are gathered as bytes into a buffer (padding taps as in_zp, which widens to 0), then
 * widened four at a time; where k is not a multiple of four the filter rows are copied to k4 bytes each
 * (zeros after the row) once per call. Scratch after the columns: the padded rows, then the buffer
 * (ops/conv2d.py: 8 * k4 + k4, + out_c * k4 where k4 > k). */
static int32_t packed_len(const eip_conv2d_params_t *p)
{
    const int first_layer = p->filter_c <= 3 && p->in_c == p->filter_c && p->filter_h * p->filter_w > 1;
    const int32_t k4 = (p->filter_h * p->filter_w * p->filter_c + 3) & ~3;
    return first_layer && k4 <= EIP_DSP_CONV_COLUMN_MAX ? k4 : 0;
}

static void pad_filters(const eip_conv2d_params_t *p, const int8_t *filter, int32_t k, int32_t k4, int8_t *padded)
{
    for (int32_t oc = 0; oc < p->out_c; ++oc, filter += k, padded += k4) {
        memcpy(padded, filter, (size_t)k);
        memset(padded + k, 0, (size_t)(k4 - k));
    }
}

/* n bytes, a word at a time (unaligned LDR/STR) while four are left. */
static inline void copy_codes(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, src += 4, dst += 4) {
        memcpy(dst, src, 4);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

/* The receptive field of output pixel (oy, ox) packed into buf (k4 bytes) and widened into `lane` of cols. */
static void fill_packed(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int16_t *cols,
                        int32_t lane, int8_t *buf, int32_t k4)
{
    const int32_t fc = p->filter_c, row_bytes = p->filter_w * fc;
    const int32_t in_y0 = oy * p->stride_h - p->pad_top, in_x0 = ox * p->stride_w - p->pad_left;
    const int whole_rows = p->dilation_w == 1 && in_x0 >= 0 && in_x0 + p->filter_w <= p->in_w;
    const int inside = whole_rows && in_y0 >= 0 && in_y0 + (p->filter_h - 1) * p->dilation_h < p->in_h;
    int8_t *b = buf;
    if (inside) {
        const int8_t *row = in + (in_y0 * p->in_w + in_x0) * fc;
        const int32_t row_step = p->dilation_h * p->in_w * fc;
        if (row_bytes == 9) {   /* 3x3x3: a row as two words and a byte */
            for (int32_t ky = p->filter_h; ky > 0; --ky, row += row_step, b += 9) {
                memcpy(b, row, 9);
            }
        } else if (row_bytes == 4) {   /* four taps of one channel: a word */
            for (int32_t ky = p->filter_h; ky > 0; --ky, row += row_step, b += 4) {
                memcpy(b, row, 4);
            }
        } else {
            for (int32_t ky = p->filter_h; ky > 0; --ky, row += row_step, b += row_bytes) {
                copy_codes(b, row, row_bytes);
            }
        }
    }
    if (!inside && p->dilation_w == 1) {   /* a row's taps inside the image, [kx0, kx1), are one run of codes */
        const int32_t kx0 = in_x0 < 0 ? -in_x0 : 0;
        const int32_t kx1 = in_x0 + p->filter_w > p->in_w ? p->in_w - in_x0 : p->filter_w;
        const int32_t before = kx0 * fc, run = kx1 > kx0 ? (kx1 - kx0) * fc : 0, after = row_bytes - before - run;
        for (int32_t ky = 0, iy = in_y0; ky < p->filter_h; ++ky, iy += p->dilation_h) {
            if (iy < 0 || iy >= p->in_h || run == 0) {
                memset(b, p->in_zp, (size_t)row_bytes);
            } else {
                memset(b, p->in_zp, (size_t)before);
                copy_codes(b + before, in + (iy * p->in_w + in_x0 + kx0) * fc, run);
                memset(b + before + run, p->in_zp, (size_t)after);
            }
            b += row_bytes;
        }
    }
    for (int32_t ky = 0, iy = in_y0; !inside && p->dilation_w != 1 && ky < p->filter_h; ++ky, iy += p->dilation_h) {
        for (int32_t kx = 0, ix = in_x0; kx < p->filter_w; ++kx, ix += p->dilation_w, b += fc) {
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                memset(b, p->in_zp, (size_t)fc);
            } else {
                copy_codes(b, in + (iy * p->in_w + ix) * fc, fc);
            }
        }
    }
    for (; b < buf + k4; ++b) {
        *b = (int8_t)p->in_zp;
    }
    widen_groups(cols + 4 * lane, buf, k4 >> 2, eip_pair16(-p->in_zp));
}

/* 1x1 filter, no padding, every input pixel inside: the column is the input pixel's channels. */
static int is_pointwise(const eip_conv2d_params_t *p)
{
    return p->filter_h == 1 && p->filter_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
           (p->out_h - 1) * p->stride_h < p->in_h && (p->out_w - 1) * p->stride_w < p->in_w;
}

/* A grouped conv (rare) takes the reference loop: it completes each pixel, every group, in raster order, as
 * the streaming contract asks (ops/conv2d.py); the column loop of eip_conv2d runs one group over every pixel
 * before the next. */
static __attribute__((noinline)) eip_status_t grouped(const eip_conv2d_params_t *p, const int8_t *input,
                                                      const int8_t *filter, const int32_t *bias, int8_t *output)
{
    for (int32_t b = 0; b < p->batches; ++b) {
        conv_direct(p, input + b * p->in_h * p->in_w * p->in_c, filter, bias, output + b * p->out_h * p->out_w * p->out_c);
    }
    return EIP_OK;
}

/* How a layer's columns are filled (chosen once per call). */
enum { FILL_PACKED, FILL_POINTWISE_GROUPS, FILL_POINTWISE, FILL_GROUPS, FILL_COLUMN };

static int fill_kind(const eip_conv2d_params_t *p, int packed)
{
    const int pointwise = is_pointwise(p), quads = whole_groups(p);
    return packed ? FILL_PACKED : pointwise && quads ? FILL_POINTWISE_GROUPS : pointwise ? FILL_POINTWISE
           : quads ? FILL_GROUPS : FILL_COLUMN;
}

/* The columns of pixels [px, px + LANES) into cols, a pixel past the last one as the last one again. */
static void fill_columns(const eip_conv2d_params_t *p, const int8_t *in, int32_t px, int32_t pixels, int kind,
                         int16_t *cols, int32_t k, int8_t *buf)
{
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    int32_t oy = px / p->out_w, ox = px - oy * p->out_w;
    for (int32_t lane = 0; lane < LANES; ++lane) {
        if (lane > 0 && px + lane < pixels && ++ox == p->out_w) {
            ox = 0;
            ++oy;
        }
        const int8_t *x = in + (oy * p->stride_h * p->in_w + ox * p->stride_w) * p->in_c;
        if (kind == FILL_POINTWISE_GROUPS) {
            widen_groups(cols + 4 * lane, x, k >> 2, minus_zp);
        } else if (kind == FILL_PACKED) {
            fill_packed(p, in, oy, ox, cols, lane, buf, (k + 3) & ~3);
        } else if (kind == FILL_POINTWISE) {
            column_writer_t w = column_writer(cols, lane, k);
            widen(x, k, p->in_zp, &w);
            if ((k & 3) != 0) {
                swap_quads(cols, lane, k >> 2);
            }
        } else if (kind == FILL_GROUPS) {
            fill_groups(p, in, oy, ox, cols, lane);
        } else {
            fill_column(p, in, oy, ox, cols, lane, k);
        }
    }
}

eip_status_t eip_conv2d(const eip_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_conv2d_check(p, input, filter, output);
    if (status != EIP_OK) {
        return status;
    }
    const int32_t k = p->filter_h * p->filter_w * p->filter_c;
    const int32_t pixels = p->out_h * p->out_w;
    const int32_t k4 = packed_len(p);
    const int32_t row_len = k4 != 0 ? k4 : k;
    /* the direct loop (grouped convs, fields longer than the columns or without them) and the requantizations
       only where a layer of the model needs them (kernel_paths.h; ops/conv2d.py dsp_direct mirrors this test) */
    const int direct = p->in_c != p->filter_c || row_len > EIP_DSP_CONV_COLUMN_MAX || p->scratch == 0;
    if ((direct && !EIP_MODEL_CONV_DIRECT) || !EIP_REQUANT_BUILT(EIP_MODEL_CONV_REQUANTS, p->requant) ||
        (!EIP_MODEL_CONV_CLAMPS && (p->act_min != -128 || p->act_max != 127))) {
        return EIP_ERR_BAD_PARAM;   /* generated for another model */
    }
    if (EIP_MODEL_CONV_DIRECT && p->in_c != p->filter_c) {
        return grouped(p, input, filter, bias, output);
    }
    /* the four columns live in the layer's scratch, planned in the arena (8 * k bytes, 16-byte aligned) */
    int16_t *const cols = (int16_t *)(void *)p->scratch;
    /* a first layer: columns of k4, then filter rows padded to k4 where k is not, then the gathering buffer */
    const int8_t *const rows = k4 != k && k4 != 0 && p->scratch != 0 ? p->scratch + 2 * LANES * k4 : filter;
    int8_t *const buf = k4 != 0 && p->scratch != 0 ? p->scratch + 2 * LANES * k4 + (rows != filter ? p->out_c * k4 : 0) : 0;
    if (rows != filter) {
        pad_filters(p, filter, k, k4, p->scratch + 2 * LANES * k4);
    }

    static const int32_t zero_bias = 0;
    const int fast = quads_fit(p, row_len), kind = fill_kind(p, k4 != 0);
    const int dense = kind == FILL_POINTWISE_GROUPS && p->stride_h == 1 && p->stride_w == 1 && p->out_w == p->in_w;
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    conv_quads_t job = {cols, row_len / 4, 0, bias != 0 ? 4 : 0, (int32_t)((const int8_t *)p->shift - (const int8_t *)p->multiplier),
                        p->multiplier + p->out_c, {0, 0, 0}, 1 + 2 * p->out_zp, (uint8_t)p->act_min * 0x01010101u,
                        (uint8_t)p->act_max * 0x01010101u, p->act_min != -128 || p->act_max != 127, rows, p->multiplier,
                        bias != 0 ? bias : &zero_bias, 0};

    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + b * pixels * p->out_c;
        if (EIP_MODEL_CONV_DIRECT && direct) {
            conv_direct(p, in, filter, bias, out);
            continue;
        }
        /* Pixels four at a time; past the last pixel, lanes compute the last one again and store it there. */
        int32_t offset[LANES] = {0, p->out_c, 2 * p->out_c, 3 * p->out_c};
        memcpy(job.offset, offset + 1, sizeof job.offset);
        job.entry = 0;
        for (int32_t px = 0; px < pixels; px += LANES) {
            if (px + LANES > pixels) {
                for (int32_t i = 1; i < LANES; ++i) {
                    offset[i] = (px + i < pixels ? i : pixels - 1 - px) * p->out_c;
                }
                memcpy(job.offset, offset + 1, sizeof job.offset);
                job.entry = pixels - px <= 2;   /* one or two pixels left: the assembly's two-lane loop */
            }
            if (dense) {   /* a pointwise layer over every pixel: input pixel i is the column of output pixel i */
                for (int32_t lane = 0; lane < LANES; ++lane) {
                    widen_groups(cols + 4 * lane, in + (px + offset[lane] / p->out_c) * k, k >> 2, minus_zp);
                }
            } else {
                fill_columns(p, in, px, pixels, kind, cols, k, buf);
            }
            if (fast) {
                job.out = out + px * p->out_c;
                conv_quads(&job, p->requant);
            } else {
                channels_c(p, rows, row_len, bias, cols, out + px * p->out_c, offset);
            }
        }
    }
    return EIP_OK;
}
