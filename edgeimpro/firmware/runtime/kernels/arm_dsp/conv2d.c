/*
 * CONV_2D, int8, Arm DSP variant: same arithmetic as ../conv2d.c (bit-exact), two MACs per SMLAD.
 *
 * Each output pixel's receptive field is unrolled once (im2col) into int16 values x - in_zp (padding
 * becomes 0, which adds nothing, as the reference's skipped taps), then every output channel is a dot
 * product with its int8 filter row. Within each whole group of four the column is stored as x0 x2 x1 x3,
 * the order in which SXTB16 unpacks four filter bytes, so one load of filter bytes feeds two SMLADs.
 * Two pixels and two channels per step share their loads. Integer sums wrap modulo 2^32 (SMLAD, eip_add_wrap),
 * so only the order of additions differs from the reference; the requantization is the layer's proven kind
 * (requantize.h), equal to eip_mbqm. The two columns live in the layer's scratch, which the memory plan
 * places in the arena; without it (NULL) the direct loop runs.
 */
#include "eip_kernels.h"
#include "../mac_params.h"
#include "../fixedpoint.h"
#include "requantize.h"
#include "simd.h"


/*
 * The two pixels' columns share one block of scratch, interleaved so one pointer walks both: for each whole
 * group q of four taps, pixel a's x0 x2 x1 x3 then pixel b's (8 halfwords from 8q); after the Q = k / 4
 * groups, the k % 4 remaining taps as (a, b) pairs. A writer fills one pixel's lane in tap order.
 */
typedef struct {
    int16_t *quad;       /* the current group of four of this lane */
    int32_t r;           /* taps already in it */
    int32_t quads_left;  /* whole groups not yet complete */
    int16_t *tail;       /* the next (a, b) pair slot of this lane after the groups */
} column_writer_t;

static column_writer_t column_writer(int16_t *cols, int32_t lane, int32_t k)
{
    const column_writer_t w = {cols + 4 * lane, 0, k >> 2, cols + 8 * (k >> 2) + lane};
    return w;
}

/* One value in natural order (swap_quads reorders the groups afterwards). */
static inline void put(column_writer_t *w, int16_t v)
{
    if (w->quads_left > 0) {
        w->quad[w->r] = v;
        if (++w->r == 4) {
            w->r = 0;
            w->quad += 8;
            --w->quads_left;
        }
    } else {
        *w->tail = v;
        w->tail += 2;
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
            w->quad += 8;
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

/* n > 0 groups of four codes from src into one lane's groups from dst (16 bytes apart), two per turn. */
static inline __attribute__((always_inline)) int16_t *widen_groups(int16_t *dst, const int8_t *src, int32_t n,
                                                                   int32_t minus_zp)
{
    if ((n & 1) != 0) {
        put_tap(dst, minus_zp, src);
        src += 4;
        dst += 8;
    }
    n >>= 1;
#if !defined(EIP_DSP_C_LOOPS)
    if (n > 0) {   /* the loop below as two LDR, four SXTAB16 and two STRD (GCC: STR pairs, 14 per turn) */
        int32_t a, b, t;
        __asm__ volatile("1: ldr     %[a], [%[src]], #4\n"
                         "   ldr     %[b], [%[src]], #4\n"
                         "   sxtab16 %[t], %[mzp], %[a]\n"
                         "   sxtab16 %[a], %[mzp], %[a], ror #8\n"
                         "   strd    %[t], %[a], [%[dst]], #16\n"
                         "   sxtab16 %[t], %[mzp], %[b]\n"
                         "   sxtab16 %[b], %[mzp], %[b], ror #8\n"
                         "   strd    %[t], %[b], [%[dst]], #16\n"
                         "   subs    %[n], %[n], #1\n"
                         "   bne     1b\n"
                         : [src] "+r"(src), [dst] "+r"(dst), [n] "+r"(n), [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t)
                         : [mzp] "r"(minus_zp)
                         : "cc", "memory");
    }
#else
    for (; n > 0; --n, src += 8, dst += 16) {
        put_tap(dst, minus_zp, src);
        put_tap(dst + 8, minus_zp, src + 4);
    }
#endif
    return dst;
}

/* n >= 0 groups of four zeros (padding taps) into one lane's groups from dst. */
static inline __attribute__((always_inline)) int16_t *zero_groups(int16_t *dst, int32_t n)
{
    for (; n > 0; --n, dst += 8) {
        const int32_t zeros[2] = {0, 0};
        memcpy(__builtin_assume_aligned(dst, 8), zeros, sizeof zeros);
    }
    return dst;
}

/* Natural order -> x0 x2 x1 x3 within each whole group of four of `lane`. */
static void swap_quads(int16_t *cols, int32_t lane, int32_t q_count)
{
    for (int32_t q = 0; q < q_count; ++q) {
        int16_t *g = cols + 8 * q + 4 * lane;
        const int16_t t = g[1];
        g[1] = g[2];
        g[2] = t;
    }
}

/* The receptive field of output pixel (oy, ox), channels [c0, c0 + filter_c), into `lane` of cols (the layers
 * fill_groups below does not take: channels not whole groups of four, or dilation across). */
static void fill_column(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int32_t c0,
                        int16_t *cols, int32_t lane, int32_t k)
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
                widen(in + (iy * p->in_w + ix) * p->in_c + c0, fc, p->in_zp, &w);
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

/* acc[2 * channel + pixel] += the dot products of filter rows w0 and w0 + w_step (0: the same row) with both
 * pixels' columns (length k, interleaved in cols): one pointer each for the rows and the columns, so the
 * loop keeps every value in registers. */
static inline __attribute__((always_inline)) void dot_2x2(const int8_t *w0, int32_t w_step, const int16_t *cols,
                                                          int32_t k, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    for (int32_t q = k >> 2; q > 0; --q) {
        int32_t x[4];   /* xa02 xa13 xb02 xb13: one 16-byte group, 8-byte aligned (two LDRD) */
        memcpy(x, __builtin_assume_aligned(cols, 8), sizeof x);
        const int32_t xa02 = x[0], xa13 = x[1], xb02 = x[2], xb13 = x[3];
        cols += 8;
        int32_t w = eip_load_s8x4(w0);
        w0 += 4;
        int32_t w02 = __sxtb16(w), w13 = eip_sxtb16_odd(w);
        a00 = __smlad(w02, xa02, a00);
        a00 = __smlad(w13, xa13, a00);
        a01 = __smlad(w02, xb02, a01);
        a01 = __smlad(w13, xb13, a01);
        w = eip_load_s8x4(w0 - 4 + w_step);
        w02 = __sxtb16(w);
        w13 = eip_sxtb16_odd(w);
        a10 = __smlad(w02, xa02, a10);
        a10 = __smlad(w13, xa13, a10);
        a11 = __smlad(w02, xb02, a11);
        a11 = __smlad(w13, xb13, a11);
    }
    for (int32_t r = k & 3; r > 0; --r) {
        const int32_t x_a = cols[0], x_b = cols[1], v0 = w0[0], v1 = w0[w_step];
        ++w0;
        cols += 2;
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

/* Output channels [oc_begin, oc_end) of two pixels whose columns are interleaved in cols: two channels at a
 * time, a last odd channel paired with itself. */
static inline __attribute__((always_inline)) void channel_pairs(const eip_conv2d_params_t *p, int32_t kind,
                                                                const int8_t *filter, const int32_t *bias,
                                                                const int16_t *cols, int32_t k, int32_t oc_begin,
                                                                int32_t oc_end, int8_t *out_a, int8_t *out_b)
{
    for (int32_t oc = oc_begin; oc < oc_end; oc += 2) {
        const int32_t oc1 = oc + 1 < oc_end ? oc + 1 : oc;
        int32_t acc[4] = {0, 0, 0, 0};
        dot_2x2(filter + oc * k, (oc1 - oc) * k, cols, k, acc);
        requantize_pair(p, kind, bias, oc, acc[0], acc[1], out_a, out_b);
        requantize_pair(p, kind, bias, oc1, acc[2], acc[3], out_a, out_b);
    }
}

/*
 * The channel loop of two pixels for the layers most models have (requantization SMMULR or NO_PRESHIFT,
 * every live channel shifting right, rows of whole groups of four): one piece of assembly, so the pointers,
 * the sums and the channel's parameters stay in registers (GCC reloaded them through the params struct for
 * every output). Per pair of channels: the bias, the dot_2x2 loop two groups of four taps per turn (18
 * instructions per 16 MACs, as GCC's best), then each of the four sums y requantized in 6 instructions
 * (10 for NO_PRESHIFT's 64-bit product) where the C took about 20, by this identity: with r = -shift >= 1,
 * RDBPOT(y, r) = floor((y - (y < 0) + 2^(r-1)) / 2^r) (requantize.h) = (w + 1) >> 1 with
 * w = (y - (y < 0)) >> (r - 1) (nested floors), so RDBPOT(y, r) + out_zp = (w + 1 + 2 out_zp) >> 1, which
 * SSAT's shifted operand saturates to int8 in one instruction. QADD keeps w + 1 + 2 out_zp from wrapping
 * (a saturated sum saturates the output alike). A channel whose multiplier is 0 has y = 0 and so w = 0,
 * whatever its shift. Layers with a narrower activation range than int8 clamp the four codes as bytes of
 * one word (SSUB8 and SEL: two instructions per bound).
 */
typedef struct {
    const int16_t *cols;        /* +0: the two pixels' interleaved columns */
    int32_t groups;             /* +4: k / 4, > 0 */
    const int32_t *bias;        /* +8: the first channel's */
    int32_t bias_step;          /* +12: 8, or 0 with bias at two zeros */
    const int32_t *multiplier;  /* +16: the first channel's */
    const int32_t *shift;       /* +20: the first channel's; -1 or less where the multiplier is not 0 */
    int8_t *out;                /* +24: pixel a's first channel */
    int32_t b_offset;           /* +28: pixel b's outputs minus pixel a's, in bytes */
    int32_t pairs;              /* +32: pairs of channels, > 0 */
    int32_t zp_round;           /* +36: 1 + 2 out_zp */
    uint32_t act_min4;          /* +40: act_min in every byte (the clamping variants) */
    uint32_t act_max4;          /* +44 */
    const int8_t *filter;       /* +48: the first channel's row; the next rows follow, k bytes each */
} conv_pairs_t;
_Static_assert(sizeof(conv_pairs_t) == 52 && sizeof(void *) == 4, "conv_pairs_t layout (the assembly's offsets)");

#if !defined(EIP_DSP_C_LOOPS)
/* r4, r5 the two filter rows, r6 the columns, r7 turns left, r0..r3 the sums (channel 0 pixel a, pixel b,
 * channel 1 pixel a, pixel b), r8/r9 two columns' words, r10/r11 and r12/lr the rows' sign-extended bytes.
 * The job is copied to the stack (13 words); the rows follow each other, so r5's end is the next r4. */
#define CONV_GROUP                                                                                              \
    "   ldr     r10, [r4], #4\n"                                                                                \
    "   ldr     r12, [r5], #4\n"                                                                                \
    "   ldrd    r8, r9, [r6], #8\n"                                                                             \
    "   sxtb16  r11, r10, ror #8\n"                                                                             \
    "   sxtb16  r10, r10\n"                                                                                     \
    "   sxtb16  lr, r12, ror #8\n"                                                                              \
    "   sxtb16  r12, r12\n"                                                                                     \
    "   smlad   r0, r10, r8, r0\n"                                                                              \
    "   smlad   r0, r11, r9, r0\n"                                                                              \
    "   smlad   r2, r12, r8, r2\n"                                                                              \
    "   smlad   r2, lr, r9, r2\n"                                                                               \
    "   ldrd    r8, r9, [r6], #8\n"                                                                             \
    "   smlad   r1, r10, r8, r1\n"                                                                              \
    "   smlad   r1, r11, r9, r1\n"                                                                              \
    "   smlad   r3, r12, r8, r3\n"                                                                              \
    "   smlad   r3, lr, r9, r3\n"
/* Sum ACC of a channel with multiplier M and right shift minus one RS to (w + 1 + 2 out_zp) >> 1 saturated
 * to int8; r12 holds 1 + 2 out_zp. SMMULR: y = SMMULR(2 acc, M) (requantize.h, |acc| < 2^30). */
#define REQ_SMMULR(ACC, M, RS)                                                                                  \
    "   lsl     " ACC ", " ACC ", #1\n"                                                                         \
    "   smmulr  " ACC ", " ACC ", " M "\n"                                                                      \
    "   add     " ACC ", " ACC ", " ACC ", asr #31\n"                                                           \
    "   asr     " ACC ", " ACC ", " RS "\n"                                                                     \
    "   qadd    " ACC ", " ACC ", r12\n"                                                                        \
    "   ssat    " ACC ", #8, " ACC ", asr #1\n"
/* NO_PRESHIFT: y = (acc * M + 2^30) >> 31 from the 64-bit product (r4 low, r6 high; |y| < 2^31, and y has
 * the sign of the high word). */
#define REQ_WIDE(ACC, M, RS)                                                                                    \
    "   smull   r4, r6, " ACC ", " M "\n"                                                                       \
    "   adds    r4, r4, #0x40000000\n"                                                                          \
    "   adc     r6, r6, #0\n"                                                                                   \
    "   lsr     r4, r4, #31\n"                                                                                  \
    "   orr     " ACC ", r4, r6, lsl #1\n"                                                                      \
    "   add     " ACC ", " ACC ", r6, asr #31\n"                                                                \
    "   asr     " ACC ", " ACC ", " RS "\n"                                                                     \
    "   qadd    " ACC ", " ACC ", r12\n"                                                                        \
    "   ssat    " ACC ", #8, " ACC ", asr #1\n"
/* r0 = pixel a's two codes (channel 0 in the low byte), r1 = pixel b's. */
#define PACK "   bfi     r0, r2, #8, #8\n   bfi     r1, r3, #8, #8\n"
#define CLAMP                                                                                                   \
    "   pkhbt   r0, r0, r1, lsl #16\n"                                                                          \
    "   ldrd    r6, r7, [sp, #40]\n"                                                                            \
    "   ssub8   r4, r0, r6\n"                                                                                   \
    "   sel     r0, r0, r6\n"                                                                                   \
    "   ssub8   r4, r7, r0\n"                                                                                   \
    "   sel     r0, r0, r7\n"                                                                                   \
    "   lsr     r1, r0, #16\n"
#define CONV_PAIRS(NAME, REQ, BOUNDS)                                                                           \
    __asm__("   .pushsection .text." #NAME ",\"ax\",%progbits\n"                                               \
            "   .p2align 2\n"                                                                                   \
            "   .type " #NAME ", %function\n"                                                                   \
            "   .thumb_func\n" #NAME ":\n"                                                                      \
            "   push    {r4-r11, lr}\n"                                                                         \
            "   ldm     r0, {r0-r12}\n"                                                                         \
            "   push    {r0-r12}\n"                                                                             \
            "   ldr     r5, [sp, #48]\n"                                                                        \
            "2: ldm     sp, {r6, r7, r8, r9}\n"   /* columns, groups, bias, bias step */                       \
            "   mov     r4, r5\n"                                                                               \
            "   add     r5, r5, r7, lsl #2\n"                                                                   \
            "   ldrd    r0, r2, [r8]\n"                                                                         \
            "   add     r8, r8, r9\n"                                                                           \
            "   str     r8, [sp, #8]\n"                                                                         \
            "   mov     r1, r0\n"                                                                               \
            "   mov     r3, r2\n"                                                                               \
            "   lsrs    r7, r7, #1\n"             /* turns of two groups; an odd group first */                \
            "   bcc     1f\n"                                                                                   \
            "   adds    r7, r7, #1\n"                                                                           \
            "   b       3f\n"                                                                                   \
            "1:\n" CONV_GROUP                                                                                   \
            "3:\n" CONV_GROUP                                                                                   \
            "   subs    r7, r7, #1\n"                                                                           \
            "   bne     1b\n"                                                                                   \
            "   add     lr, sp, #16\n"                                                                          \
            "   ldm     lr, {r6, r7}\n"                                                                         \
            "   ldrd    r8, r9, [r6], #8\n"        /* the two multipliers */                                   \
            "   ldrd    r10, r11, [r7], #8\n"      /* the two shifts, then right shift - 1 = ~shift */         \
            "   stm     lr, {r6, r7}\n"                                                                         \
            "   mvn     r10, r10\n"                                                                             \
            "   mvn     r11, r11\n"                                                                             \
            "   ldr     r12, [sp, #36]\n"                                                                       \
            REQ("r0", "r8", "r10") REQ("r1", "r8", "r10") REQ("r2", "r9", "r11") REQ("r3", "r9", "r11")         \
            PACK BOUNDS                                                                                         \
            "   ldrd    r6, r7, [sp, #24]\n"                                                                    \
            "   strh    r1, [r6, r7]\n"                                                                         \
            "   strh    r0, [r6], #2\n"                                                                         \
            "   ldr     r7, [sp, #32]\n"                                                                        \
            "   str     r6, [sp, #24]\n"                                                                        \
            "   subs    r7, r7, #1\n"                                                                           \
            "   str     r7, [sp, #32]\n"                                                                        \
            "   bne     2b\n"                                                                                   \
            "   add     sp, sp, #52\n"                                                                          \
            "   pop     {r4-r11, pc}\n"                                                                         \
            "   .size " #NAME ", . - " #NAME "\n"                                                               \
            "   .popsection\n")
CONV_PAIRS(eip_dsp_conv_pairs_smmulr, REQ_SMMULR, "");
CONV_PAIRS(eip_dsp_conv_pairs_smmulr_clamp, REQ_SMMULR, CLAMP);
CONV_PAIRS(eip_dsp_conv_pairs_wide, REQ_WIDE, "");
CONV_PAIRS(eip_dsp_conv_pairs_wide_clamp, REQ_WIDE, CLAMP);
#undef CONV_GROUP
#undef REQ_SMMULR
#undef REQ_WIDE
#undef PACK
#undef CLAMP
#undef CONV_PAIRS
/* Local symbols of this object (no .global): the calls below resolve when it is assembled, so two exported
 * runtimes linked into one program cannot collide on them (eip_names.h renames only C symbols). */
void eip_dsp_conv_pairs_smmulr(const conv_pairs_t *job);
void eip_dsp_conv_pairs_smmulr_clamp(const conv_pairs_t *job);
void eip_dsp_conv_pairs_wide(const conv_pairs_t *job);
void eip_dsp_conv_pairs_wide_clamp(const conv_pairs_t *job);
#else
/* The same loop in C. */
static void conv_pairs_c(const conv_pairs_t *j, int32_t kind, int clamp)
{
    const int32_t k = 4 * j->groups;
    const int8_t *row = j->filter;
    const int32_t *bias = j->bias;
    int8_t *out = j->out;
    for (int32_t pair = 0; pair < j->pairs; ++pair, row += 2 * k, bias += j->bias_step / 4, out += 2) {
        int32_t acc[4] = {bias[0], bias[0], bias[1], bias[1]};   /* channel 0: a, b; channel 1: a, b */
        dot_2x2(row, k, j->cols, k, acc);
        for (int32_t i = 0; i < 4; ++i) {
            const int32_t c = 2 * pair + i / 2, m = j->multiplier[c], rs = -j->shift[c] - 1;
            const int32_t y = kind == EIP_REQUANT_SMMULR ? eip_dsp_smmulr((int32_t)((uint32_t)acc[i] << 1), m)
                                                         : (int32_t)(((int64_t)acc[i] * m + (1 << 30)) >> 31);
            const int64_t w = (int64_t)((y - (y < 0)) >> (rs & 31)) + j->zp_round;   /* rs < 0: y = 0 */
            int32_t v = (int32_t)((w < INT32_MIN ? INT32_MIN : w > INT32_MAX ? INT32_MAX : w) >> 1);
            v = v < -128 ? -128 : v > 127 ? 127 : v;
            if (clamp) {
                const int32_t lo = (int8_t)j->act_min4, hi = (int8_t)j->act_max4;
                v = v < lo ? lo : v > hi ? hi : v;
            }
            out[(i & 1) * j->b_offset + i / 2] = (int8_t)v;
        }
    }
}
#endif

/* Whether the channel loop above takes the layer: per-channel conditions, checked once per call. */
static int pairs_fit(const eip_conv2d_params_t *p, int32_t row_len)
{
    if ((p->requant != EIP_REQUANT_SMMULR && p->requant != EIP_REQUANT_NO_PRESHIFT) || (row_len & 3) != 0 ||
        p->out_c < 2) {
        return 0;
    }
    for (int32_t c = 0; c < p->out_c; ++c) {
        if (p->shift[c] > -1 && p->multiplier[c] != 0) {
            return 0;
        }
    }
    return 1;
}

static void conv_pairs(const conv_pairs_t *j, int32_t kind, int clamp)
{
#if !defined(EIP_DSP_C_LOOPS)
    if (kind == EIP_REQUANT_SMMULR) {
        (clamp ? eip_dsp_conv_pairs_smmulr_clamp : eip_dsp_conv_pairs_smmulr)(j);
    } else {
        (clamp ? eip_dsp_conv_pairs_wide_clamp : eip_dsp_conv_pairs_wide)(j);
    }
#else
    conv_pairs_c(j, kind, clamp);
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

/* First layers (two or three input channels, no groups): every tap widened to a group of four lanes, the
 * extra lanes with weight 0, so the whole column is SIMD groups (one 32-bit assembly of the tap's bytes, two
 * SXTAB16) instead of three or two values written one by one. The padded filter rows are built once per
 * call in the scratch after the columns (ops/conv2d.py sizes it: 4 * 4 taps + out_c * 4 taps bytes). */
static int32_t padded_taps(const eip_conv2d_params_t *p)
{
    const int first_layer = (p->filter_c == 2 || p->filter_c == 3) && p->in_c == p->filter_c;
    const int32_t taps = p->filter_h * p->filter_w;
    return first_layer && 4 * taps <= EIP_DSP_CONV_COLUMN_MAX ? taps : 0;
}

static void pad_filters(const eip_conv2d_params_t *p, const int8_t *filter, int32_t taps, int8_t *padded)
{
    const int32_t fc = p->filter_c;
    for (int32_t row = 0; row < p->out_c * taps; ++row) {   /* (oc, tap) rows of fc bytes -> 4 bytes */
        padded[4 * row] = filter[fc * row];
        padded[4 * row + 1] = filter[fc * row + 1];
        padded[4 * row + 2] = fc == 3 ? filter[fc * row + 2] : 0;
        padded[4 * row + 3] = 0;
    }
}

/* The taps of output pixel (oy, ox), each as one group of four lanes of `lane` (x0 x2 x1 x3). Taps in the
 * padding are 0. A window inside the image loads each tap as one word (LDR, two SXTAB16, two STR): the lanes past
 * the channels hold the next pixel's codes minus in_zp, against weight 0. Only the image's last pixel would
 * read past the tensor; a window holding it takes the tap-by-tap loop, whose extra lanes hold -in_zp. */
static void fill_padded(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int16_t *cols,
                        int32_t lane)
{
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t in_x0 = ox * p->stride_w - p->pad_left;
    const int32_t in_y1 = in_y0 + (p->filter_h - 1) * p->dilation_h, in_x1 = in_x0 + (p->filter_w - 1) * p->dilation_w;
    int16_t *dst = cols + 4 * lane;
    if (in_y0 >= 0 && in_x0 >= 0 && in_y1 < p->in_h && in_x1 < p->in_w &&
        in_y1 * p->in_w + in_x1 < p->in_h * p->in_w - 1) {
        const int32_t tap_step = p->dilation_w * p->in_c, row_step = p->dilation_h * p->in_w * p->in_c;
        const int8_t *row = in + (in_y0 * p->in_w + in_x0) * p->in_c;
        if (p->filter_w == 3) {   /* the common 3x3: a row's taps unrolled */
            for (int32_t ky = p->filter_h; ky > 0; --ky, row += row_step, dst += 24) {
                put_tap(dst, minus_zp, row);
                put_tap(dst + 8, minus_zp, row + tap_step);
                put_tap(dst + 16, minus_zp, row + 2 * tap_step);
            }
            return;
        }
        for (int32_t ky = p->filter_h; ky > 0; --ky, row += row_step) {
            const int8_t *x = row;
            for (int32_t kx = p->filter_w; kx > 0; --kx, x += tap_step, dst += 8) {
                put_tap(dst, minus_zp, x);
            }
        }
        return;
    }
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t iy = in_y0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->filter_w; ++kx, dst += 8) {
            const int32_t ix = in_x0 + kx * p->dilation_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                eip_store_s16x2(dst, 0);
                eip_store_s16x2(dst + 2, 0);
                continue;
            }
            const uint8_t *x = (const uint8_t *)in + (iy * p->in_w + ix) * p->in_c;
            const int32_t bytes = (int32_t)(x[0] | (uint32_t)x[1] << 8 | (p->filter_c == 3 ? (uint32_t)x[2] << 16 : 0u));
            eip_store_s16x2(dst, __sxtab16(minus_zp, bytes));
            eip_store_s16x2(dst + 2, eip_sxtab16_odd(minus_zp, bytes));
        }
    }
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

eip_status_t eip_conv2d(const eip_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_conv2d_check(p, input, filter, output);
    if (status != EIP_OK) {
        return status;
    }
    if (p->in_c != p->filter_c) {
        return grouped(p, input, filter, bias, output);
    }
    const int32_t groups = p->in_c / p->filter_c;
    const int32_t out_c_per_group = p->out_c / groups;
    const int32_t k = p->filter_h * p->filter_w * p->filter_c;
    const int32_t pixels = p->out_h * p->out_w;
    const int pointwise = is_pointwise(p), quads = whole_groups(p);
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    const int32_t padded = padded_taps(p);
    /* the two columns live in the layer's scratch, planned in the arena (4 * k bytes, 16-byte aligned) */
    int16_t *const cols = (int16_t *)(void *)p->scratch;
    /* a first layer: padded filter rows after the columns, and columns of 4 * taps */
    const int8_t *const rows = padded != 0 && p->scratch != 0 ? p->scratch + 16 * padded : filter;
    const int32_t row_len = rows != filter ? 4 * padded : k;
    if (rows != filter) {
        pad_filters(p, filter, padded, p->scratch + 16 * padded);
    }

    static const int32_t no_bias[2] = {0, 0};
    const int fast = pairs_fit(p, row_len);
    const int clamp = p->act_min != -128 || p->act_max != 127;
    conv_pairs_t job = {cols, row_len / 4, bias != 0 ? bias : no_bias, bias != 0 ? 8 : 0, p->multiplier, p->shift,
                        0, 0, p->out_c / 2, 1 + 2 * p->out_zp, (uint8_t)p->act_min * 0x01010101u,
                        (uint8_t)p->act_max * 0x01010101u, rows};

    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + b * pixels * p->out_c;
        if (k > EIP_DSP_CONV_COLUMN_MAX || p->scratch == 0) {
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
                if (rows != filter) {
                    fill_padded(p, in, oy_a, ox_a, cols, 0);
                    fill_padded(p, in, oy_b, ox_b, cols, 1);
                } else if (pointwise && quads) {
                    widen_groups(cols, in + (oy_a * p->stride_h * p->in_w + ox_a * p->stride_w) * p->in_c, k >> 2, minus_zp);
                    widen_groups(cols + 4, in + (oy_b * p->stride_h * p->in_w + ox_b * p->stride_w) * p->in_c, k >> 2, minus_zp);
                } else if (pointwise) {
                    column_writer_t wa = column_writer(cols, 0, k), wb = column_writer(cols, 1, k);
                    widen(in + (oy_a * p->stride_h * p->in_w + ox_a * p->stride_w) * p->in_c + c0, k, p->in_zp, &wa);
                    widen(in + (oy_b * p->stride_h * p->in_w + ox_b * p->stride_w) * p->in_c + c0, k, p->in_zp, &wb);
                    if ((k & 3) != 0) {
                        swap_quads(cols, 0, k >> 2);
                        swap_quads(cols, 1, k >> 2);
                    }
                } else if (quads) {
                    fill_groups(p, in, oy_a, ox_a, cols, 0);
                    fill_groups(p, in, oy_b, ox_b, cols, 1);
                } else {
                    fill_column(p, in, oy_a, ox_a, c0, cols, 0, k);
                    fill_column(p, in, oy_b, ox_b, c0, cols, 1, k);
                }
                int8_t *out_a = out + px * p->out_c;
                int8_t *out_b = out + px_b * p->out_c;
                if (fast) {
                    job.out = out_a;
                    job.b_offset = (int32_t)(out_b - out_a);
                    conv_pairs(&job, p->requant, clamp);
                    if ((p->out_c & 1) != 0) {   /* the last channel, paired with itself */
                        channel_pairs(p, p->requant, rows, bias, cols, row_len, p->out_c - 1, p->out_c, out_a, out_b);
                    }
                } else if (p->requant == EIP_REQUANT_SMMULR) {   /* the common case, specialised */
                    channel_pairs(p, EIP_REQUANT_SMMULR, rows, bias, cols, row_len, oc_begin, oc_end, out_a, out_b);
                } else {
                    channel_pairs(p, p->requant, rows, bias, cols, row_len, oc_begin, oc_end, out_a, out_b);
                }
            }
        }
    }
    return EIP_OK;
}
