/*
 * DEPTHWISE_CONV_2D, int8, Arm DSP variant: same arithmetic as ../depthwise_conv2d.c (bit-exact).
 *
 * Depth multiplier 1, a 3x3 filter with its planned strip (stride 1 or 2 along the row, the fast output step):
 * the planar path below, SIMD along the row within one channel. Other depth multiplier 1 layers: four channels
 * at a time, SIMD across channels; each output pixel walks the rectangle of its valid taps (padding adds
 * nothing, as the reference's skipped taps). Depth multiplier M > 1 takes the same loop over blocks of four
 * output channels, each tap's four input codes gathered from input channels oc / M. Output rows are outermost, for
 * the streaming contract of issue 13 (a layer's output may lie below its input): row oy is finished, every
 * block of four channels and then the last in_c % 4 channels, before row oy + 1, and from then on no
 * input row before row oy's first is read. The sign-extended taps and output steps of the blocks are kept
 * on the stack across rows for as many blocks as EIP_DSP_DEPTHWISE_KEPT_WORDS holds, worked out again per
 * row for the others.
 * Filters with more than EIP_DSP_DEPTHWISE_TAPS_MAX taps run the reference
 * loop itself (../depthwise_conv2d_ref.h), which walks rows outermost too. Built with a model's
 * eip_model_kernels.h (../kernel_paths.h) whose depthwise layers all take the planar path, only that path is
 * built (and its row clamp only where a layer clamps).
 */
#include "eip_kernels.h"
#include "../mac_params.h"
#include "../depthwise_conv2d_ref.h"
#include "../fixedpoint.h"
#include "../kernel_paths.h"
#include "requantize.h"
#include "simd.h"

#ifndef EIP_DSP_DEPTHWISE_TAPS_MAX
#define EIP_DSP_DEPTHWISE_TAPS_MAX 64
#endif

/* The words of stack that keep blocks' taps and output steps across output rows on the path SIMD across
 * channels (2 KiB, as add.c's tables): all 16 blocks of a 3x3 filter over 64 channels, two of the largest
 * filter. Re-deriving a block per row costs about one output pixel of it. */
#ifndef EIP_DSP_DEPTHWISE_KEPT_WORDS
#define EIP_DSP_DEPTHWISE_KEPT_WORDS 512
#endif
_Static_assert(EIP_DSP_DEPTHWISE_KEPT_WORDS >= 2 * (2 * EIP_DSP_DEPTHWISE_TAPS_MAX + 8),
               "the kept state must hold one block and the refilled one");

/* The sum of channel oc (bias included) as an int8 code, by requantization `kind`. */
static inline __attribute__((always_inline)) int8_t requantize_sum_kind(const eip_depthwise_conv2d_params_t *p,
                                                                        int32_t kind, int32_t acc, int32_t oc)
{
    return eip_dsp_requantize_built(EIP_MODEL_DEPTHWISE_REQUANTS, kind, acc, p->multiplier[oc], p->shift[oc],
                                    p->out_zp, p->act_min, p->act_max);
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

/* Where a block of four output channels finds its input codes: the input channel of output channel c + i is
 * `d[i]` channels after the block's first (gathered only where the depth multiplier is above 1). */
typedef struct {
    int32_t d[4];
} gather_t;

/* How a block gathers (tap_codes): one word (depth multiplier 1), four bytes, or two where channels (1, 3) read
 * the codes of channels (0, 2) (M = 2: c, c, c + 1, c + 1; M a multiple of 4). */
enum { GATHER_WORD, GATHER_BYTES, GATHER_PAIRED };

/* The four input codes of a tap at x minus in_zp, sign-extended as pairs (0, 2) and (1, 3), as `gather` says
 * (a constant where inlined). */
static inline __attribute__((always_inline)) void tap_codes(const int8_t *x, int32_t minus_zp, int gather,
                                                            const gather_t *g, int32_t *x02, int32_t *x13)
{
    if (gather == GATHER_WORD) {
        const int32_t v = eip_load_s8x4(x);
        *x02 = __sxtab16(minus_zp, v);
        *x13 = eip_sxtab16_odd(minus_zp, v);
        return;
    }
    const uint8_t *u = (const uint8_t *)x;
    *x02 = __sxtab16(minus_zp, (int32_t)(u[0] | (uint32_t)u[g->d[2]] << 16));
    *x13 = gather == GATHER_PAIRED ? *x02 : __sxtab16(minus_zp, (int32_t)(u[g->d[1]] | (uint32_t)u[g->d[3]] << 16));
}

/* One filter tap of one output pixel for four channels: w_tap holds the tap sign-extended, channels (0, 2)
 * and (1, 3); tap_codes turns the four input codes at `in + x_off` into x - in_zp the same way, and SMLABB /
 * SMLATT add one product each to the sums acc0..acc3. A macro, so the sums stay in registers. */
#define DW_TAP(x_off, w_tap, gather)                                                                    \
    do {                                                                                               \
        int32_t x02_, x13_;                                                                            \
        tap_codes(in + (x_off), minus_zp, gather, &g, &x02_, &x13_);                                   \
        acc0 = __smlabb((w_tap)[0], x02_, acc0);                                                       \
        acc2 = __smlatt((w_tap)[0], x02_, acc2);                                                       \
        acc1 = __smlabb((w_tap)[1], x13_, acc1);                                                       \
        acc3 = __smlatt((w_tap)[1], x13_, acc3);                                                       \
    } while (0)

/* The valid taps of one output pixel for four channels, the input codes gathered or not (a constant). */
#define DW_TAPS(gather)                                                                                 \
    do {                                                                                               \
        int32_t x_row_ = x_row;                                                                        \
        for (int32_t ky = ky0; ky < ky1; ++ky) {                                                       \
            const int32_t *w_tap = w + 2 * (ky * fw + kx0);                                            \
            int32_t x_tap = x_row_;                                                                    \
            for (int32_t kx = kx1 - kx0; kx > 0; --kx) {                                               \
                DW_TAP(x_tap, w_tap, gather);                                                          \
                w_tap += 2;                                                                            \
                x_tap += col_step;                                                                     \
            }                                                                                          \
            x_row_ += row_step;                                                                        \
        }                                                                                              \
    } while (0)

/* What a block of four channels keeps for every output row, in `stride` = 2 * taps + 8 words of the kept
 * state: its taps sign-extended (channels (0, 2) and (1, 3) per tap), then on the fast path (fast_fits) each
 * channel's multiplier and right shift minus one (-shift - 1, >= 0 where the multiplier is not 0). */
enum { STEP_WORDS = 8 };

/* The fast path: the SMMULR kind with every live channel shifting right, so the output step is
 * (w + 1 + 2 out_zp) >> 1 with w = (y - (y < 0)) >> (right - 1), y = SMMULR(2 acc, M), saturated to int8
 * (the identity and its proof: conv2d.c, conv_pairs_t); a channel whose multiplier is 0 has y = 0, w = 0. */
static int fast_fits(const eip_depthwise_conv2d_params_t *p)
{
    if (p->requant != EIP_REQUANT_SMMULR) {
        return 0;
    }
    for (int32_t c = 0; c < p->out_c; ++c) {
        if (p->shift[c] > -1 && p->multiplier[c] != 0) {
            return 0;
        }
    }
    return 1;
}

static void block_setup(const eip_depthwise_conv2d_params_t *p, const int8_t *filter, int32_t c, int32_t *state)
{
    const int32_t channels = p->out_c, taps = p->filter_h * p->filter_w;
    for (int32_t t = 0; t < taps; ++t) {
        const int32_t v = eip_load_s8x4(filter + t * channels + c);
        state[2 * t] = __sxtb16(v);
        state[2 * t + 1] = eip_sxtb16_odd(v);
    }
    int32_t *step = state + 2 * taps;
    for (int32_t i = 0; i < 4; ++i) {
        step[2 * i] = p->multiplier[c + i];
        step[2 * i + 1] = (-p->shift[c + i] - 1) & 31;   /* any value serves a channel whose multiplier is 0 */
    }
}

/* The output step of channel i of a block on the fast path, its constants in locals and the kept state: the
 * int8 stores may alias *p for the compiler, which reloaded every parameter for every output. */
typedef struct {
    int32_t zp_round, act_min, act_max;   /* zp_round = 1 + 2 out_zp */
} out_range_t;

static inline __attribute__((always_inline)) int8_t out_fast(const out_range_t *o, const int32_t *step, int32_t i,
                                                             int32_t acc)
{
    const int32_t y = eip_dsp_smmulr((int32_t)((uint32_t)acc << 1), step[2 * i]);
    int32_t v = (((y - (y < 0)) >> step[2 * i + 1]) + o->zp_round) >> 1;   /* |y| < 2^30: no overflow */
    v = v < o->act_min ? o->act_min : v;
    return (int8_t)(v > o->act_max ? o->act_max : v);
}

/* What every block of an output row shares: the row, its first input row and valid tap rows, and the
 * columns whose taps all lie inside the image, [ox_lo, ox_hi) (found once per layer). */
typedef struct {
    int32_t oy, in_y0, ky0, ky1, row_inside, ox_lo, ox_hi;
} row_t;

/* The kept state of a layer: blocks [0, kept) in the first kept * stride words, the slot after them
 * refilled for each other block. */
typedef struct {
    int32_t *words;
    int32_t stride, kept;
} kept_t;

static const int32_t no_bias[4] = {0, 0, 0, 0};

/* Every block of four output channels of output row r->oy, requantized by `kind`, or on the fast path (a
 * constant where inlined); for depth multiplier > 1 each tap's input codes gathered (tap_codes). Pixels whose
 * taps all lie inside the image (the interior: whole rows of taps, and the columns found once) skip the
 * clipping of the tap rectangle. Tap offsets, not pointers: the step after the last tap
 * may lie outside the input. */
static inline __attribute__((always_inline)) void blocks_row(const eip_depthwise_conv2d_params_t *p,
                                                             const int8_t *in, const int8_t *filter,
                                                             const int32_t *bias, const kept_t *k,
                                                             const row_t *r, int8_t *out, int32_t kind, int fast)
{
    const int32_t channels = p->out_c, in_c = p->in_c, mult = p->depth_multiplier;
    const int32_t fh = p->filter_h, fw = p->filter_w, out_w = p->out_w;
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    const int32_t row_step = p->dilation_h * p->in_w * in_c, col_step = p->dilation_w * in_c;
    const out_range_t range = {1 + 2 * p->out_zp, p->act_min, p->act_max};
    const int32_t in_y0 = r->in_y0, ky0 = r->ky0, ky1 = r->ky1;
    const int32_t ox_lo = r->row_inside ? r->ox_lo : 0, ox_hi = r->row_inside ? r->ox_hi : 0;
    for (int32_t c = 0, block = 0; c + 4 <= channels; c += 4, ++block) {
        int32_t *state = k->words + (block < k->kept ? block : k->kept) * k->stride;
        if (block >= k->kept) {
            block_setup(p, filter, c, state);
        }
        const int32_t *w = state, *step = state + 2 * fh * fw, ic = c / mult;
        gather_t g = {{0, 1, 2, 3}};
        for (int32_t i = 1; i < 4; ++i) {
            g.d[i] = (c + i) / mult - ic;
        }
        const int gather = mult == 1 ? GATHER_WORD : g.d[1] == 0 && g.d[3] == g.d[2] ? GATHER_PAIRED : GATHER_BYTES;
        const int32_t *start = bias != 0 ? bias + c : no_bias;
        int8_t *o = out + r->oy * out_w * channels + c;
        for (int32_t ox = 0; ox < out_w; ++ox, o += channels) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_left;
            int32_t acc0 = start[0], acc1 = start[1], acc2 = start[2], acc3 = start[3];
            int32_t kx0 = 0, kx1 = fw;
            if (ox < ox_lo || ox >= ox_hi) {
                valid_taps(in_x0, p->dilation_w, p->in_w, fw, &kx0, &kx1);
            }
            const int32_t x_row =
                ((in_y0 + ky0 * p->dilation_h) * p->in_w + in_x0 + kx0 * p->dilation_w) * in_c + ic;
            if (gather == GATHER_WORD) {   /* a test per pixel, the tap loop thrice: one copy of the output steps */
                DW_TAPS(GATHER_WORD);
            } else if (gather == GATHER_PAIRED) {
                DW_TAPS(GATHER_PAIRED);
            } else {
                DW_TAPS(GATHER_BYTES);
            }
            if (fast) {
                o[0] = out_fast(&range, step, 0, acc0);
                o[1] = out_fast(&range, step, 1, acc1);
                o[2] = out_fast(&range, step, 2, acc2);
                o[3] = out_fast(&range, step, 3, acc3);
            } else {
                o[0] = requantize_sum_kind(p, kind, acc0, c);
                o[1] = requantize_sum_kind(p, kind, acc1, c + 1);
                o[2] = requantize_sum_kind(p, kind, acc2, c + 2);
                o[3] = requantize_sum_kind(p, kind, acc3, c + 3);
            }
        }
    }
}

#undef DW_TAPS
#undef DW_TAP

/* One copy (the planar path takes most layers), its own function: inlined into depthwise_simd, the sums went
 * to the stack. */
static __attribute__((noinline)) void depthwise_blocks_row(const eip_depthwise_conv2d_params_t *p,
                                                           const int8_t *in, const int8_t *filter,
                                                           const int32_t *bias, const kept_t *k, const row_t *r,
                                                           int8_t *out, int fast)
{
    blocks_row(p, in, filter, bias, k, r, out, p->requant, fast);
}

/* Output channels [c, out_c) of output row r->oy one at a time: the last out_c % 4 channels. */
static void channels_row(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                         const int32_t *bias, const row_t *r, int32_t c, int8_t *out)
{
    const int32_t channels = p->out_c, in_c = p->in_c;
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
        const int32_t in_x0 = ox * p->stride_w - p->pad_left;
        int32_t kx0, kx1;
        valid_taps(in_x0, p->dilation_w, p->in_w, p->filter_w, &kx0, &kx1);
        for (int32_t ch = c; ch < channels; ++ch) {
            const int32_t ic = ch / p->depth_multiplier;
            int32_t acc = 0;
            for (int32_t ky = r->ky0; ky < r->ky1; ++ky) {
                const int32_t iy = r->in_y0 + ky * p->dilation_h;
                for (int32_t kx = kx0; kx < kx1; ++kx) {
                    const int32_t ix = in_x0 + kx * p->dilation_w;
                    acc = eip_add_wrap(acc, (int32_t)filter[(ky * p->filter_w + kx) * channels + ch] *
                                                ((int32_t)in[(iy * p->in_w + ix) * in_c + ic] - p->in_zp));
                }
            }
            out[(r->oy * p->out_w + ox) * channels + ch] = requantize(p, acc, bias, ch);
        }
    }
}

/* ---- The planar 3x3 path: SIMD along the row within one channel -------------------------------------------
 * For a 3x3 filter, dilation 1, stride 1 or 2 along the row and the fast output step, where the plan gives the
 * layer its strip (ops/depthwise_conv2d.py, strip_scratch), the strip's cells are laid out per channel: for
 * channel j and ring slot s one row of `used` = (out_w - 1) stride_w + 3 input codes at (3 j + s) used (the
 * image's borders padded with the input zero point), after the rows each channel's taps, doubled, as
 * halfword pairs, and its bias minus in_zp times the sum of its taps, doubled (plane_taps_t), so that a pad
 * cell adds nothing and the sum is 2 acc, SMMULR's operand. Stride 1: one word load of codes x0..x3 of a
 * filter row gives, with SXTB16 and SXTB16 ROR 8, (x0, x2) and (x1, x3); output i gets (x0, x2).(w0, w2)
 * (SMLAD) and x1 w1 (SMLABB), output i + 1 (x1, x3).(w0, w2) and x2 w1 (SMLATB): 7 instructions per filter
 * row and two outputs, against 4.5 per tap and output across channels. Stride 2: a word load of x0..x3, LDRSB
 * of x4 and two SXTB16 feed output i (x0, x2).(w0, w2) + x1 w1 and output i + 1 x2 w0 + x3 w1 + x4 w2: 9 per
 * row and pair.
 * With a strip per block (a ring) each input row is copied into its slot (its row mod 3) of every channel
 * once, and the taps are written once per call, the channels laid out one after the other (the same bytes
 * as the blocks' strips): an output row is one call. With one strip, each block of four channels writes its
 * 3 rows for every output row (its taps too, unless PLANE_KEPT_CHANNELS on the stack hold every channel's).
 * Output rows stay outermost (issue 13).
 */
typedef struct {
    int32_t outer[3];   /* filter row k's taps 0 and 2, doubled, as halfwords (tap 0 low) */
    int32_t mid01;      /* tap 1 of rows 0 and 1, doubled (row 0 low) */
    int32_t mid2;       /* right shift - 1 (0..PLANE_RIGHT1_MAX) low, tap 1 of row 2 doubled high */
    int32_t bias;       /* 2 (bias - in_zp * the 9 taps' sum), mod 2^32 */
} plane_taps_t;
_Static_assert(4 * sizeof(plane_taps_t) <= 100, "a block's taps fit the head strip_scratch plans");

/* The channels whose taps one strip's layers keep on the stack (24 bytes each), and the largest right shift
 * - 1 of the output step (PL_OUT: (1 + 2 out_zp) << (right - 1) within 2^30). */
enum { PLANE_KEPT_CHANNELS = 64, PLANE_RIGHT1_MAX = 21 };

static inline int32_t halves(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

/* The taps of channels [c, c + n) into h. */
static void plane_head(const eip_depthwise_conv2d_params_t *p, const int8_t *filter, const int32_t *bias,
                       int32_t c, int32_t n, plane_taps_t *h)
{
    const int32_t channels = p->in_c, zp = p->in_zp;
    for (const int8_t *w = filter + c; n > 0; --n, ++h, ++w) {
        const int32_t w0 = w[0], w1 = w[channels], w2 = w[2 * channels], w3 = w[3 * channels];
        const int32_t w4 = w[4 * channels], w5 = w[5 * channels], w6 = w[6 * channels];
        const int32_t w7 = w[7 * channels], w8 = w[8 * channels];
        h->outer[0] = halves(2 * w0, 2 * w2);
        h->outer[1] = halves(2 * w3, 2 * w5);
        h->outer[2] = halves(2 * w6, 2 * w8);
        h->mid01 = halves(2 * w1, 2 * w4);
        const int32_t right1 = p->multiplier[w - filter] != 0 ? -p->shift[w - filter] - 1 : 0;
        h->mid2 = halves(right1, 2 * w7);
        const uint32_t b = bias != 0 ? (uint32_t)bias[w - filter] : 0u;
        const int32_t sum = w0 + w1 + w2 + w3 + w4 + w5 + w6 + w7 + w8;
        h->bias = (int32_t)(2u * (b - (uint32_t)zp * (uint32_t)sum));
    }
}

/* The planar geometry of a layer. */
typedef struct {
    int32_t used;    /* codes per slot row: (out_w - 1) stride_w + 3 */
    int32_t plane;   /* a channel's 3 slots: 3 used */
    int32_t lo, hi;  /* the slot cells [lo, hi) that come from the image (the others are pad) */
} plane_t;

/* Groups of four channels (from src on, `channels` bytes per pixel) of quads of four pixels, then `rest`
 * pixels, as four channels' rows (from dst on, `plane` bytes apart). A group is the
 * next four channels of a row (src_step 4, dst_step 4 plane) or the same four of the next row (one strip). */
typedef struct {
    const int8_t *src;   /* +0: the first group's first pixel */
    int8_t *dst;         /* +4: its channel 0's first cell */
    int32_t quads;       /* +8 */
    int32_t groups;      /* +12: > 0 */
    int32_t channels;    /* +16 */
    int32_t plane;       /* +20 */
    int32_t src_step;    /* +24: from a group's first pixel to the next group's */
    int32_t dst_step;    /* +28: from a group's first cell to the next group's */
    int32_t rest;        /* +32: 0..3 */
} quads_job_t;

#if !defined(EIP_DSP_C_LOOPS)
/* Per quad: four word loads (pixels a, b, c, e), with the GE flags at 0101 SEL(a, b << 8) = a0 b0 a2 b2,
 * SEL(a >> 8, b) = a1 b1 a3 b3 (and c, e alike), PKHBT/PKHTB to the four channels' words, four unaligned
 * stores: 24 instructions per 16 codes, against 41 from GCC. r0 walks the pixels, r1 the cells, r2 counts the
 * quads; r4 = channels, r6 = 3 channels, r5 = plane, r7 = 3 plane, r12/lr the group steps. The rest: a word
 * load and four byte stores per pixel. */
__asm__("   .pushsection .text.eip_dsp_dw_plane_quads,\"ax\",%progbits\n"
        "   .p2align 2\n"
        "   .type eip_dsp_dw_plane_quads, %function\n"
        "   .thumb_func\n"
        "eip_dsp_dw_plane_quads:\n"
        "   push    {r4-r11, lr}\n"
        "   ldrd    r12, lr, [r0, #24]\n"
        "   ldr     r8, [r0, #32]\n"
        "   ldm     r0, {r0-r5}\n"
        "   push    {r0-r3, r8}\n"
        "   add     r6, r4, r4, lsl #1\n"
        "   add     r7, r5, r5, lsl #1\n"
        "   mov     r8, #0x00FF00FF\n"
        "   uadd8   r8, r8, r8\n"                 /* GE = 0101: SEL takes bytes 0 and 2 from its first operand */
        "2: ldm     sp, {r0-r2}\n"
        "   add     r3, r0, r12\n"
        "   add     r8, r1, lr\n"
        "   strd    r3, r8, [sp]\n"
        "   cmp     r2, #0\n"
        "   beq     3f\n"
        "1: ldr     r3, [r0]\n"
        "   ldr     r8, [r0, r4]\n"
        "   ldr     r9, [r0, r4, lsl #1]\n"
        "   ldr     r10, [r0, r6]\n"
        "   add     r0, r0, r4, lsl #2\n"
        "   lsl     r11, r8, #8\n"
        "   sel     r11, r3, r11\n"
        "   lsr     r3, r3, #8\n"
        "   sel     r3, r3, r8\n"
        "   lsl     r8, r10, #8\n"
        "   sel     r8, r9, r8\n"
        "   lsr     r9, r9, #8\n"
        "   sel     r9, r9, r10\n"
        "   pkhbt   r10, r11, r8, lsl #16\n"
        "   str     r10, [r1]\n"
        "   pkhtb   r10, r8, r11, asr #16\n"
        "   str     r10, [r1, r5, lsl #1]\n"
        "   pkhbt   r10, r3, r9, lsl #16\n"
        "   str     r10, [r1, r5]\n"
        "   pkhtb   r10, r9, r3, asr #16\n"
        "   str     r10, [r1, r7]\n"
        "   add     r1, r1, #4\n"
        "   subs    r2, r2, #1\n"
        "   bne     1b\n"
        "3: ldr     r2, [sp, #16]\n"
        "   cmp     r2, #0\n"
        "   beq     5f\n"
        "4: ldr     r3, [r0]\n"
        "   add     r0, r0, r4\n"
        "   strb    r3, [r1]\n"
        "   lsr     r3, r3, #8\n"
        "   strb    r3, [r1, r5]\n"
        "   lsr     r3, r3, #8\n"
        "   strb    r3, [r1, r5, lsl #1]\n"
        "   lsr     r3, r3, #8\n"
        "   strb    r3, [r1, r7]\n"
        "   add     r1, r1, #1\n"
        "   subs    r2, r2, #1\n"
        "   bne     4b\n"
        "5: ldr     r3, [sp, #12]\n"
        "   subs    r3, r3, #1\n"
        "   str     r3, [sp, #12]\n"
        "   bne     2b\n"
        "   add     sp, sp, #20\n"
        "   pop     {r4-r11, pc}\n"
        "   .size eip_dsp_dw_plane_quads, . - eip_dsp_dw_plane_quads\n"
        "   .popsection\n");
/* A local symbol of this object (no .global): the call below resolves when it is assembled, so two exported
 * runtimes linked into one program cannot collide on it (eip_names.h renames only C symbols). */
void eip_dsp_dw_plane_quads(const quads_job_t *job);
#else
/* The same in C. */
static void eip_dsp_dw_plane_quads(const quads_job_t *j)
{
    const uint32_t m = 0x00FF00FFu;
    const int32_t ch = j->channels, plane = j->plane;
    for (int32_t g = 0; g < j->groups; ++g) {
        const int8_t *s = j->src + g * j->src_step;
        int8_t *o = j->dst + g * j->dst_step;
        for (int32_t q = 0; q < j->quads; ++q, s += 4 * ch, o += 4) {
            const uint32_t a = (uint32_t)eip_load_s8x4(s), b = (uint32_t)eip_load_s8x4(s + ch);
            const uint32_t c = (uint32_t)eip_load_s8x4(s + 2 * ch), e = (uint32_t)eip_load_s8x4(s + 3 * ch);
            const uint32_t ab02 = (a & m) | ((b & m) << 8), ab13 = ((a >> 8) & m) | (b & ~m);
            const uint32_t ce02 = (c & m) | ((e & m) << 8), ce13 = ((c >> 8) & m) | (e & ~m);
            const uint32_t r[4] = {(ab02 & 0xFFFFu) | (ce02 << 16), (ab13 & 0xFFFFu) | (ce13 << 16),
                                   (ab02 >> 16) | (ce02 & 0xFFFF0000u), (ab13 >> 16) | (ce13 & 0xFFFF0000u)};
            for (int32_t i = 0; i < 4; ++i) {
                memcpy(o + i * plane, &r[i], 4);
            }
        }
        for (int32_t x = 0; x < j->rest; ++x, s += ch, ++o) {
            for (int32_t i = 0; i < 4; ++i) {
                o[i * plane] = s[i];
            }
        }
    }
}
#endif

/* Input rows iy..iy + count - 1 into slots slot.. of channels [c, c + n), whose rows start at `rows` (channel
 * c's slot 0): a row of every channel of a ring (count 1), or a block's 3 rows of one strip. */
static __attribute__((noinline)) void plane_fill(const eip_depthwise_conv2d_params_t *p, const plane_t *g,
                                                 const int8_t *in, int32_t c, int32_t n, int32_t iy, int32_t count,
                                                 int32_t slot, int8_t *rows)
{
    const int inside = iy >= 0 && iy + count <= p->in_h;
    if (count > 1 && (!inside || n != 4)) {   /* row by row */
        for (int32_t r = 0; r < count; ++r) {
            plane_fill(p, g, in, c, n, iy + r, 1, slot + r, rows);
        }
        return;
    }
    const int32_t cells = g->hi - g->lo, plane = g->plane, channels = p->in_c;
    int8_t *d = rows + slot * g->used + g->lo;
    if (!inside) {
        for (int32_t j = 0; j < n; ++j) {
            memset(d + j * plane, p->in_zp, (size_t)cells);
        }
        return;
    }
    const int8_t *src = in + (iy * p->in_w + g->lo - p->pad_left) * channels + c;
    const int32_t quads = cells / 4, groups = count > 1 ? count : n / 4;
    const int32_t src_step = count > 1 ? p->in_w * channels : 4, dst_step = count > 1 ? g->used : 4 * plane;
    if (cells > 0 && groups > 0) {
        const quads_job_t job = {src, d, quads, groups, channels, plane, src_step, dst_step, cells - 4 * quads};
        eip_dsp_dw_plane_quads(&job);
    }
    for (int32_t j = count > 1 ? n : 4 * groups; j < n; ++j) {   /* the last in_c % 4 */
        const int8_t *s = src + j;
        for (int32_t x = 0; x < cells; ++x, s += channels) {
            d[j * plane + x] = *s;
        }
    }
}

/* One output row of a run of channels; the assembly keeps the layout of the fields (offsets in comments; words
 * 0 and 3 are its own). */
typedef struct {
    int32_t multiplier;          /* +0: the channel's (the assembly's) */
    int32_t round;               /* +4: the channel's (1 + 2 out_zp) << (right - 1) (the assembly's) */
    int32_t out_step;            /* +8: channels */
    const int8_t *end;           /* +12: the channel's x after its pairs (the assembly's) */
    const plane_taps_t *taps;    /* +16: the first channel's */
    const int32_t *multipliers;  /* +20: the first channel's */
    int32_t pair_bytes;          /* +24: (out_w / 2) 2 stride_w */
    int32_t odd;                 /* +28: out_w & 1 */
    int32_t x_next;              /* +32: from a channel's x after its pairs to the next channel's x */
    int32_t out_next;            /* +36: from a channel's output after its pairs to the next channel's */
    int8_t *out_end;             /* +40: the output of the channel after the last */
    const int8_t *x;             /* +44: the first channel's cell 0 in filter row 0's slot */
    int32_t off1;                /* +48: filter row 1's slot minus row 0's, bytes */
    int32_t off2;                /* +52: filter row 2's */
    int8_t *out;                 /* +56: pixel 0 of the first channel */
    int32_t zp_round;            /* +60: 1 + 2 out_zp */
} plane_job_t;
_Static_assert(sizeof(plane_job_t) == 64 && sizeof(void *) == 4, "plane_job_t layout (the assembly's offsets)");

#if !defined(EIP_DSP_C_LOOPS)
/* The job is copied to the stack at lr = sp + 28, below it a channel's taps as loaded per pair of outputs:
 * outer[0..2], mid01, mid2 and the bias twice (r0..r6 by one LDM, the two sums starting at the bias). r10/r11
 * hold the codes, r12 the output. After the taps one LDM gives the output step's multiplier and rounding
 * term, the channel step and the end of the pairs (r0..r3); r4's low byte is the right shift - 1.
 * Stride 1: r7 walks filter row 0's slot, r8/r9 are the other rows' offsets from it. Stride 2: r7..r9 walk
 * the three rows. */
#define PL_ROW1(ADDR, OUTER, MID_I, MID_J, MID)                                                                 \
    "   ldr     r10, " ADDR "\n"                                                                                \
    "   sxtb16  r11, r10, ror #8\n"                                                                            \
    "   sxtb16  r10, r10\n"                                                                                     \
    "   smlad   r5, r10, " OUTER ", r5\n"                                                                       \
    "   " MID_I "  r5, r11, " MID ", r5\n"                                                                      \
    "   smlad   r6, r11, " OUTER ", r6\n"                                                                       \
    "   " MID_J "  r6, r10, " MID ", r6\n"
/* Output i: x1 w1 (MID_I: x1 is r11's low half), output i + 1: x2 w1 (MID_J: x2 is r10's high half). */
#define PL_PAIR1                                                                                                \
    PL_ROW1("[r7, r8]", "r1", "smlabt", "smlatt", "r3")                                                        \
    PL_ROW1("[r7, r9]", "r2", "smlabt", "smlatt", "r4")                                                        \
    PL_ROW1("[r7], #2", "r0", "smlabb", "smlatb", "r3")
#define PL_ONE1(ADDR, OUTER, MID_I, MID)                                                                        \
    "   ldr     r10, " ADDR "\n"                                                                                \
    "   sxtb16  r11, r10, ror #8\n"                                                                            \
    "   sxtb16  r10, r10\n"                                                                                     \
    "   smlad   r5, r10, " OUTER ", r5\n"                                                                       \
    "   " MID_I "  r5, r11, " MID ", r5\n"
#define PL_TAIL1 PL_ONE1("[r7, r8]", "r1", "smlabt", "r3") PL_ONE1("[r7, r9]", "r2", "smlabt", "r4")           \
    PL_ONE1("[r7]", "r0", "smlabb", "r3")
/* Stride 2, x0..x3 in r10, x4 in r11 (LDRD would need word alignment): output i + 1 gets x4 w2, x3 w1
 * ((x1, x3) high half by MID_J's half) and x2 w0; output i x1 w1 and (x0, x2).(w0, w2). */
#define PL_ROW2(PTR, OUTER, MID_I, MID_J, MID)                                                                  \
    "   ldrsb   r11, [" PTR ", #4]\n"                                                                          \
    "   ldr     r10, [" PTR "], #4\n"                                                                          \
    "   smlabt  r6, r11, " OUTER ", r6\n"                                                                       \
    "   sxtb16  r11, r10, ror #8\n"                                                                            \
    "   " MID_I "  r5, r11, " MID ", r5\n"                                                                      \
    "   " MID_J "  r6, r11, " MID ", r6\n"                                                                      \
    "   sxtb16  r10, r10\n"                                                                                     \
    "   smlad   r5, r10, " OUTER ", r5\n"                                                                       \
    "   smlatb  r6, r10, " OUTER ", r6\n"
#define PL_PAIR2                                                                                                \
    PL_ROW2("r8", "r1", "smlabt", "smlatt", "r3")                                                              \
    PL_ROW2("r9", "r2", "smlabt", "smlatt", "r4")                                                              \
    PL_ROW2("r7", "r0", "smlabb", "smlatb", "r3")
#define PL_TAIL2 PL_ONE1("[r8]", "r1", "smlabt", "r3") PL_ONE1("[r9]", "r2", "smlabt", "r4")                   \
    PL_ONE1("[r7]", "r0", "smlabb", "r3")
/* The sum in ACC (2 acc) to its int8 code: out_fast's ((y - (y < 0)) >> (right - 1) + 1 + 2 out_zp) >> 1
 * saturated, y = SMMULR(2 acc, M), in 4 instructions: SMMLAR adds r1 = (1 + 2 out_zp) << (right - 1) to y (|y|,
 * |r1| < 2^30: no overflow, and the shift then adds 1 + 2 out_zp exactly), and (acc < 0) stands for (y < 0):
 * they differ only where acc < 0 rounds to y = 0, and there (-1 >> (right - 1)) + 1 + 2 out_zp = 2 out_zp and
 * 1 + 2 out_zp halve alike. */
#define PL_OUT(ACC)                                                                                             \
    "   smmlar  r10, " ACC ", r0, r1\n"                                                                         \
    "   add     r10, r10, " ACC ", asr #31\n"                                                                   \
    "   asr     r10, r10, r4\n"                                                                                 \
    "   ssat    " ACC ", #8, r10, asr #1\n"
/* STRIDE 1: r8/r9 offsets (x_next moves r7 alone); 2: row pointers (x_next moves all three). */
#define PL_SETUP_1 ""
#define PL_SETUP_2 "   add     r8, r7, r8\n   add     r9, r7, r9\n"
#define PL_NEXT_1 ""
#define PL_NEXT_2 "   add     r8, r8, r0\n   add     r9, r9, r0\n"
#define PL_RUN(NAME, STRIDE)                                                                    \
    __asm__("   .pushsection .text." #NAME ",\"ax\",%progbits\n"                                               \
            "   .p2align 2\n"                                                                                   \
            "   .type " #NAME ", %function\n"                                                                   \
            "   .thumb_func\n" #NAME ":\n"                                                                      \
            "   push    {r4-r11, lr}\n"                                                                         \
            "   sub     sp, sp, #92\n"                                                                          \
            "   add     lr, sp, #28\n"                                                                          \
            "   ldm     r0!, {r1-r9}\n"                                                                         \
            "   stm     lr, {r1-r9}\n"                                                                          \
            "   ldm     r0, {r1-r7}\n"                                                                          \
            "   add     r10, lr, #36\n"                                                                         \
            "   stm     r10, {r1-r7}\n"                                                                         \
            "   ldrd    r7, r8, [lr, #44]\n"                                                                    \
            "   ldr     r9, [lr, #52]\n"                                                                        \
            "   ldr     r12, [lr, #56]\n"                                                                       \
            PL_SETUP_##STRIDE                                                                                   \
            "2: ldrd    r10, r11, [lr, #16]\n"     /* a channel: its taps, the bias twice, its multiplier */   \
            "   ldm     r10!, {r0-r5}\n"                                                                        \
            "   ldr     r6, [r11], #4\n"                                                                        \
            "   strd    r10, r11, [lr, #16]\n"                                                                  \
            "   ldr     r10, [lr, #60]\n"                                                                       \
            "   lsl     r10, r10, r4\n"                                                                         \
            "   strd    r6, r10, [lr]\n"                                                                        \
            "   mov     r6, r5\n"                                                                               \
            "   stm     sp, {r0-r6}\n"                                                                          \
            "   ldr     r0, [lr, #24]\n"                                                                        \
            "   add     r0, r7, r0\n"                                                                           \
            "   str     r0, [lr, #12]\n"                                                                        \
            "1: ldm     sp, {r0-r6}\n"             /* two outputs */                                           \
            PL_PAIR##STRIDE                                                                                     \
            "   ldm     lr, {r0-r3}\n"                                                                          \
            PL_OUT("r5") PL_OUT("r6")                                                                           \
            "   strb    r5, [r12]\n"                                                                            \
            "   strb    r6, [r12, r2]\n"                                                                        \
            "   add     r12, r12, r2, lsl #1\n"                                                                 \
            "   cmp     r7, r3\n"                                                                               \
            "   bne     1b\n"                                                                                   \
            "   ldr     r0, [lr, #28]\n"           /* the last output of an odd row */                         \
            "   cbz     r0, 4f\n"                                                                               \
            "   ldm     sp, {r0-r5}\n"                                                                          \
            PL_TAIL##STRIDE                                                                                     \
            "   ldm     lr, {r0-r1}\n"                                                                          \
            PL_OUT("r5")                                                                                        \
            "   strb    r5, [r12]\n"                                                                            \
            "4: ldrd    r0, r1, [lr, #32]\n"       /* the next channel */                                      \
            "   ldr     r2, [lr, #40]\n"                                                                        \
            "   add     r7, r7, r0\n"                                                                           \
            PL_NEXT_##STRIDE                                                                                    \
            "   add     r12, r12, r1\n"                                                                         \
            "   cmp     r12, r2\n"                                                                              \
            "   bne     2b\n"                                                                                   \
            "   add     sp, sp, #92\n"                                                                          \
            "   pop     {r4-r11, pc}\n"                                                                         \
            "   .size " #NAME ", . - " #NAME "\n"                                                               \
            "   .popsection\n")
PL_RUN(eip_dsp_dw_plane_row1, 1);
PL_RUN(eip_dsp_dw_plane_row2, 2);
#undef PL_ROW1
#undef PL_PAIR1
#undef PL_ONE1
#undef PL_TAIL1
#undef PL_ROW2
#undef PL_PAIR2
#undef PL_TAIL2
#undef PL_OUT
#undef PL_SETUP_1
#undef PL_SETUP_2
#undef PL_NEXT_1
#undef PL_NEXT_2
#undef PL_RUN
/* Local symbols of this object (no .global), as eip_dsp_dw_plane_quads. */
void eip_dsp_dw_plane_row1(const plane_job_t *job);
void eip_dsp_dw_plane_row2(const plane_job_t *job);
#else
/* The same loop in C. */
static void plane_row_c(const plane_job_t *j, int32_t stride)
{
    const int32_t width = j->pair_bytes / stride + j->odd, plane = j->pair_bytes + j->x_next;
    for (int32_t ch = 0; ch < (int32_t)(j->out_end - j->out); ++ch) {
        const plane_taps_t *t = j->taps + ch;
        const int8_t *x = j->x + ch * plane;
        const int32_t mid[3] = {(int16_t)t->mid01, t->mid01 >> 16, t->mid2 >> 16};
        const int32_t off[3] = {0, j->off1, j->off2};
        for (int32_t i = 0; i < width; ++i) {
            int32_t acc = t->bias;
            for (int32_t k = 0; k < 3; ++k) {
                const int8_t *r = x + off[k] + i * stride;
                acc = (int32_t)((uint32_t)acc + (uint32_t)(r[0] * (int16_t)t->outer[k] + r[1] * mid[k] +
                                                           r[2] * (t->outer[k] >> 16)));
            }
            const int32_t right1 = t->mid2 & 0xFF, round = (int32_t)((uint32_t)j->zp_round << right1);
            const int32_t y = eip_dsp_smmulr(acc, j->multipliers[ch]) + round;   /* SMMLAR */
            int32_t v = ((y - (acc < 0)) >> right1) >> 1;
            j->out[ch + i * j->out_step] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
    }
}
#endif

static void plane_row(const plane_job_t *job, int32_t stride)
{
#if !defined(EIP_DSP_C_LOOPS)
    (stride == 1 ? eip_dsp_dw_plane_row1 : eip_dsp_dw_plane_row2)(job);
#else
    plane_row_c(job, stride);
#endif
}

/* The bytewise signed maximum (or minimum) of a and b: SSUB8 sets GE where a >= b (b >= a), SEL picks a there. */
static inline int32_t max_s8x4(int32_t a, int32_t b)
{
    int32_t r;
    __asm("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b));
    return r;
}

static inline int32_t min_s8x4(int32_t a, int32_t b)
{
    int32_t r;
    __asm("ssub8 %0, %2, %1\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b));
    return r;
}

/* The n codes from o on clamped to [act_min, act_max], four at a time: a layer with a narrower activation
 * range than int8 clamps each output row once written, about 1.5 instructions per code where clamping in
 * the row's assembly took 3.5 (and two more functions of it). */
static void clamp_row(const eip_depthwise_conv2d_params_t *p, int8_t *o, int32_t n)
{
    const int32_t lo4 = (int32_t)((uint8_t)p->act_min * 0x01010101u);
    const int32_t hi4 = (int32_t)((uint8_t)p->act_max * 0x01010101u);
    for (; n >= 4; n -= 4, o += 4) {
        const int32_t v = min_s8x4(max_s8x4(eip_load_s8x4(o), lo4), hi4);
        memcpy(o, &v, 4);
    }
    for (; n > 0; --n, ++o) {
        *o = (int8_t)(*o < p->act_min ? p->act_min : *o > p->act_max ? p->act_max : *o);
    }
}

/* fast_fits, and every right shift at most PLANE_RIGHT1_MAX + 1. */
static int plane_fits(const eip_depthwise_conv2d_params_t *p)
{
    if (p->filter_h != 3 || p->filter_w != 3 || p->dilation_h != 1 || p->dilation_w != 1 ||
        (p->stride_w != 1 && p->stride_w != 2) || p->out_w < 2 || p->scratch == 0 || p->strip_blocks <= 0 ||
        p->requant != EIP_REQUANT_SMMULR) {
        return 0;
    }
    for (int32_t c = 0; c < p->out_c; ++c) {
        const int32_t right1 = -p->shift[c] - 1;
        if (p->multiplier[c] != 0 && (right1 < 0 || right1 > PLANE_RIGHT1_MAX)) {
            return 0;
        }
    }
    return 1;
}

static inline int32_t mod3(int32_t v)
{
    return ((v % 3) + 3) % 3;
}

/* One batch through the planar strips, output rows outermost: every channel of output row oy before row
 * oy + 1, its input rows oy * stride_h - pad_top .. + 2 in the strips first. */
static __attribute__((noinline)) void plane_batch(const eip_depthwise_conv2d_params_t *p, const int8_t *in,
                                                  const int8_t *filter, const int32_t *bias, int8_t *out)
{
    const int32_t channels = p->in_c, blocks = (channels + 3) / 4, out_w = p->out_w, sw = p->stride_w;
    plane_t g;
    g.used = (out_w - 1) * sw + 3;
    g.plane = 3 * g.used;
    g.lo = p->pad_left < g.used ? p->pad_left : g.used;
    g.hi = p->pad_left + p->in_w < g.used ? p->pad_left + p->in_w : g.used;
    g.hi = g.hi > g.lo ? g.hi : g.lo;
    const int ring = p->strip_blocks >= blocks, clamp = p->act_min != -128 || p->act_max != 127;
    const int32_t pairs = out_w / 2, rows = 12 * g.used * (ring ? blocks : 1);
    plane_taps_t kept[PLANE_KEPT_CHANNELS];
    const int keep = !ring && channels <= PLANE_KEPT_CHANNELS;
    plane_taps_t *taps = keep ? kept : (plane_taps_t *)(void *)(p->scratch + rows);
    plane_job_t job = {0, 0, channels, 0, 0, 0, 2 * sw * pairs, out_w & 1,
                       g.plane - 2 * sw * pairs, 1 - 2 * pairs * channels, 0, 0, 0, 0, 0, 1 + 2 * p->out_zp};
    memset(p->scratch, p->in_zp, (size_t)rows);   /* the pad cells stay */
    if (ring || keep) {
        plane_head(p, filter, bias, 0, channels, taps);
    }
    int32_t held[3] = {-1, -1, -1};   /* the input row in each slot, every channel alike (-1: pad, zp alone) */
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        int8_t *o = out + oy * out_w * channels;
        if (ring) {
            int32_t slot[3];
            for (int32_t ky = 0; ky < 3; ++ky) {
                const int32_t iy = iy0 + ky, row = iy < 0 || iy >= p->in_h ? -1 : iy;
                slot[ky] = mod3(iy);
                if (held[slot[ky]] != row) {
                    held[slot[ky]] = row;
                    plane_fill(p, &g, in, 0, channels, iy, 1, slot[ky], p->scratch);
                }
            }
            job.off1 = (slot[1] - slot[0]) * g.used;
            job.off2 = (slot[2] - slot[0]) * g.used;
            job.taps = taps;
            job.multipliers = p->multiplier;
            job.x = p->scratch + slot[0] * g.used;
            job.out = o;
            job.out_end = o + channels;
            plane_row(&job, sw);
            if (EIP_MODEL_DEPTHWISE_CLAMPS && clamp) {
                clamp_row(p, o, out_w * channels);
            }
            continue;
        }
        job.off1 = g.used;
        job.off2 = 2 * g.used;
        for (int32_t c = 0; c < channels; c += 4) {   /* one strip: a block's rows (and taps) at a time */
            const int32_t n = channels - c < 4 ? channels - c : 4;
            plane_fill(p, &g, in, c, n, iy0, 3, 0, p->scratch);
            if (!keep) {
                plane_head(p, filter, bias, c, n, taps);
            }
            job.taps = keep ? taps + c : taps;
            job.multipliers = p->multiplier + c;
            job.x = p->scratch;
            job.out = o + c;
            job.out_end = o + c + n;
            plane_row(&job, sw);
        }
        if (EIP_MODEL_DEPTHWISE_CLAMPS && clamp) {
            clamp_row(p, o, out_w * channels);
        }
    }
}

/* Any depth multiplier (out_c == M in_c), output rows outermost for the streaming contract (issue 13): each
 * row is finished, its blocks of four output channels and then its last out_c % 4 channels, before the next. */
static void depthwise_simd(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                           const int32_t *bias, int8_t *out)
{
    const int32_t blocks = p->out_c / 4;
    int32_t words[EIP_DSP_DEPTHWISE_KEPT_WORDS];
    kept_t k = {words, 2 * p->filter_h * p->filter_w + STEP_WORDS, 0};
    const int32_t slots = EIP_DSP_DEPTHWISE_KEPT_WORDS / k.stride;
    k.kept = blocks <= slots ? blocks : slots - 1;   /* else the last slot is refilled per block and row */
    for (int32_t block = 0; block < k.kept; ++block) {
        block_setup(p, filter, 4 * block, words + block * k.stride);
    }
    const int fast = fast_fits(p);
    row_t r;
    r.ox_lo = 0;
    r.ox_hi = p->out_w;
    while (r.ox_lo < r.ox_hi && r.ox_lo * p->stride_w - p->pad_left < 0) {
        ++r.ox_lo;
    }
    while (r.ox_hi > r.ox_lo &&
           (r.ox_hi - 1) * p->stride_w - p->pad_left + (p->filter_w - 1) * p->dilation_w >= p->in_w) {
        --r.ox_hi;
    }
    for (r.oy = 0; r.oy < p->out_h; ++r.oy) {
        r.in_y0 = r.oy * p->stride_h - p->pad_top;
        valid_taps(r.in_y0, p->dilation_h, p->in_h, p->filter_h, &r.ky0, &r.ky1);
        r.row_inside = r.ky0 == 0 && r.ky1 == p->filter_h;
        if (blocks > 0) {
            depthwise_blocks_row(p, in, filter, bias, &k, &r, out, fast);
        }
        if (4 * blocks < p->out_c) {
            channels_row(p, in, filter, bias, &r, 4 * blocks, out);
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
    const int simd = p->filter_h * p->filter_w <= EIP_DSP_DEPTHWISE_TAPS_MAX;
    const int planar = simd && p->depth_multiplier == 1 && plane_fits(p);
    /* the paths the model's layers do not take are left out (kernel_paths.h: ops/depthwise_conv2d.py,
       dsp_planar, mirrors plane_fits) */
    if ((!planar && !EIP_MODEL_DEPTHWISE_GENERAL) || !EIP_REQUANT_BUILT(EIP_MODEL_DEPTHWISE_REQUANTS, p->requant) ||
        (!EIP_MODEL_DEPTHWISE_CLAMPS && (p->act_min != -128 || p->act_max != 127))) {
        return EIP_ERR_BAD_PARAM;   /* generated for another model */
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + b * p->out_h * p->out_w * p->out_c;
        if (planar) {
            plane_batch(p, in, filter, bias, out);
        } else if (EIP_MODEL_DEPTHWISE_GENERAL && simd) {
            depthwise_simd(p, in, filter, bias, out);
        } else if (EIP_MODEL_DEPTHWISE_GENERAL) {
            eip_depthwise_conv2d_batch_ref(p, in, filter, bias, out);
        }
    }
    return EIP_OK;
}
