/*
 * DEPTHWISE_CONV_2D, int8, Arm DSP variant: same arithmetic as ../depthwise_conv2d.c (bit-exact).
 *
 * Depth multiplier 1: four channels at a time, SIMD across channels; each output pixel walks the rectangle
 * of its valid taps (padding adds nothing, as the reference's skipped taps). Output rows are outermost, for
 * the streaming contract of issue 13 (a layer's output may lie below its input): row oy is finished, every
 * block of four channels and then the last in_c % 4 channels, before row oy + 1, and from then on no
 * input row before row oy's first is read. The sign-extended taps and output steps of the blocks are kept
 * on the stack across rows for as many blocks as EIP_DSP_DEPTHWISE_KEPT_WORDS holds, worked out again per
 * row for the others.
 * Other depth multipliers and filters with more than EIP_DSP_DEPTHWISE_TAPS_MAX taps run the reference
 * loop itself (../depthwise_conv2d_ref.h), which walks rows outermost too.
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

/* The words of stack that keep blocks' taps and output steps across output rows (2 KiB, as add.c's
 * tables): all 16 blocks of a 3x3 filter over 64 channels (KWS), two of the largest filter. Re-deriving a
 * block per row costs about one output pixel of it: VWW's 6x6x128 layers (32 blocks, 16 kept) run 0.2%
 * slower than the block-outer loop did, the layers whose blocks are all kept faster. */
#ifndef EIP_DSP_DEPTHWISE_KEPT_WORDS
#define EIP_DSP_DEPTHWISE_KEPT_WORDS 512
#endif
_Static_assert(EIP_DSP_DEPTHWISE_KEPT_WORDS >= 2 * (2 * EIP_DSP_DEPTHWISE_TAPS_MAX + 12),
               "the kept state must hold one block and the refilled one");

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

/* What a block of four channels keeps for every output row, in `stride` = 2 * taps + 12 words of the kept
 * state: its taps sign-extended (channels (0, 2) and (1, 3) per tap), then for the SMMULR kind each
 * channel's right shift, 2^(right - 1) (0 for no shift) and 1 where right != 0 (the tie correction of
 * negative values applies). */
enum { STEP_RIGHT = 0, STEP_HALF = 4, STEP_SHIFTS = 8, STEP_WORDS = 12 };

static void block_setup(const eip_depthwise_conv2d_params_t *p, const int8_t *filter, int32_t c, int32_t *state)
{
    const int32_t channels = p->in_c, taps = p->filter_h * p->filter_w;
    for (int32_t t = 0; t < taps; ++t) {
        const int32_t v = eip_load_s8x4(filter + t * channels + c);
        state[2 * t] = __sxtb16(v);
        state[2 * t + 1] = eip_sxtb16_odd(v);
    }
    int32_t *step = state + 2 * taps;
    for (int32_t i = 0; i < 4 && p->requant == EIP_REQUANT_SMMULR; ++i) {
        const int32_t right = -p->shift[c + i];   /* the SMMULR kind has shift <= 0 */
        step[STEP_RIGHT + i] = right;
        step[STEP_HALF + i] = (int32_t)((1u << right) >> 1);
        step[STEP_SHIFTS + i] = right != 0;
    }
}

/* The output step of channel i of a block by the SMMULR kind (requantize.h), its constants in locals and
 * the kept state: the int8 stores may alias *p for the compiler, which reloaded every parameter for every
 * output. */
typedef struct {
    int32_t out_zp, act_min, act_max;
} out_range_t;

static inline __attribute__((always_inline)) int8_t out_smmulr(const out_range_t *o, const int32_t *multiplier,
                                                               const int32_t *step, int32_t i, int32_t acc)
{
    const int32_t y = eip_dsp_smmulr((int32_t)((uint32_t)acc << 1), multiplier[i]);
    const int32_t tie = (int32_t)(((uint32_t)y >> 31) & (uint32_t)step[STEP_SHIFTS + i]);
    int32_t v = ((y + step[STEP_HALF + i] - tie) >> step[STEP_RIGHT + i]) + o->out_zp;
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

/* Every 4-channel block of output row r->oy, requantized by `kind` (a constant where inlined). Pixels whose
 * taps all lie inside the image (the interior: whole rows of taps, and the columns found once) skip the
 * clipping of the tap rectangle, and with `unroll` a 3x3 filter's nine taps are unrolled there. Tap
 * offsets, not pointers: the step after the last tap may lie outside the input. */
static inline __attribute__((always_inline)) void blocks_row(const eip_depthwise_conv2d_params_t *p,
                                                             const int8_t *in, const int8_t *filter,
                                                             const int32_t *bias, const kept_t *k,
                                                             const row_t *r, int8_t *out, int32_t kind,
                                                             int unroll)
{
    const int32_t channels = p->in_c, fh = p->filter_h, fw = p->filter_w, out_w = p->out_w;
    const int32_t minus_zp = eip_pair16(-p->in_zp);
    const int32_t row_step = p->dilation_h * p->in_w * channels, col_step = p->dilation_w * channels;
    const int unrolled = unroll && fh == 3 && fw == 3;
    const out_range_t range = {p->out_zp, p->act_min, p->act_max};
    const int32_t in_y0 = r->in_y0, ky0 = r->ky0, ky1 = r->ky1;
    const int32_t ox_lo = r->row_inside ? r->ox_lo : 0, ox_hi = r->row_inside ? r->ox_hi : 0;
    for (int32_t c = 0, block = 0; c + 4 <= channels; c += 4, ++block) {
        int32_t *state = k->words + (block < k->kept ? block : k->kept) * k->stride;
        if (block >= k->kept) {
            block_setup(p, filter, c, state);
        }
        const int32_t *w = state, *step = state + 2 * fh * fw;
        const int32_t *start = bias != 0 ? bias + c : no_bias, *multiplier = p->multiplier + c;
        int8_t *o = out + r->oy * out_w * channels + c;
        for (int32_t ox = 0; ox < out_w; ++ox, o += channels) {
            const int32_t in_x0 = ox * p->stride_w - p->pad_left;
            const int inside = ox >= ox_lo && ox < ox_hi;
            int32_t acc0 = start[0], acc1 = start[1], acc2 = start[2], acc3 = start[3];
            if (inside && unrolled) {
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
                if (!inside) {
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
            if (kind == EIP_REQUANT_SMMULR) {
                o[0] = out_smmulr(&range, multiplier, step, 0, acc0);
                o[1] = out_smmulr(&range, multiplier, step, 1, acc1);
                o[2] = out_smmulr(&range, multiplier, step, 2, acc2);
                o[3] = out_smmulr(&range, multiplier, step, 3, acc3);
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

static void depthwise_blocks_row(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                                 const int32_t *bias, const kept_t *k, const row_t *r, int8_t *out)
{
    if (p->requant == EIP_REQUANT_SMMULR) {   /* the common case, specialised */
        blocks_row(p, in, filter, bias, k, r, out, EIP_REQUANT_SMMULR, 1);
    } else {
        blocks_row(p, in, filter, bias, k, r, out, p->requant, 0);
    }
}

/* Channels [c, in_c) of output row r->oy one at a time: the last in_c % 4 channels. */
static void channels_row(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                         const int32_t *bias, const row_t *r, int32_t c, int8_t *out)
{
    const int32_t channels = p->in_c;
    for (int32_t ox = 0; ox < p->out_w; ++ox) {
        const int32_t in_x0 = ox * p->stride_w - p->pad_left;
        int32_t kx0, kx1;
        valid_taps(in_x0, p->dilation_w, p->in_w, p->filter_w, &kx0, &kx1);
        for (int32_t ch = c; ch < channels; ++ch) {
            int32_t acc = 0;
            for (int32_t ky = r->ky0; ky < r->ky1; ++ky) {
                const int32_t iy = r->in_y0 + ky * p->dilation_h;
                for (int32_t kx = kx0; kx < kx1; ++kx) {
                    const int32_t ix = in_x0 + kx * p->dilation_w;
                    acc = eip_add_wrap(acc, (int32_t)filter[(ky * p->filter_w + kx) * channels + ch] *
                                                ((int32_t)in[(iy * p->in_w + ix) * channels + ch] - p->in_zp));
                }
            }
            out[(r->oy * p->out_w + ox) * channels + ch] = requantize(p, acc, bias, ch);
        }
    }
}

/* Depth multiplier 1 (out_c == in_c), output rows outermost for the streaming contract (issue 13): each
 * row is finished, its blocks of four channels and then its last in_c % 4 channels, before the next. */
static void depthwise_simd(const eip_depthwise_conv2d_params_t *p, const int8_t *in, const int8_t *filter,
                           const int32_t *bias, int8_t *out)
{
    const int32_t blocks = p->in_c / 4;
    int32_t words[EIP_DSP_DEPTHWISE_KEPT_WORDS];
    kept_t k = {words, 2 * p->filter_h * p->filter_w + STEP_WORDS, 0};
    const int32_t slots = EIP_DSP_DEPTHWISE_KEPT_WORDS / k.stride;
    k.kept = blocks <= slots ? blocks : slots - 1;   /* else the last slot is refilled per block and row */
    for (int32_t block = 0; block < k.kept; ++block) {
        block_setup(p, filter, 4 * block, words + block * k.stride);
    }
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
            depthwise_blocks_row(p, in, filter, bias, &k, &r, out);
        }
        if (4 * blocks < p->in_c) {
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
