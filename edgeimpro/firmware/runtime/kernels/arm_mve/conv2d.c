/*
 * CONV_2D, int8, Helium (MVE) variant: same arithmetic as ../conv2d.c (bit-exact), 16 MACs per VMLADAVA.
 *
 * Sum_k w_k (x_k - in_zp) = Sum_k w_k x_k - in_zp Sum_k w_k, both sums in wrapping int32 (equal modulo 2^32 to
 * the reference's), so the raw int8 codes feed VMLADAVA.S8 directly and each filter row's sum comes with it
 * (VADDVA.S8 on the row chunk already loaded). A padded tap reads the code in_zp, whose x - in_zp is 0: the
 * reference skips it, the sum is the same.
 *
 * Four output pixels share every load of a filter row chunk. Their receptive fields are the input pixels
 * themselves for an unpadded 1x1 conv (no copy), else int8 columns unrolled into the layer's scratch (the
 * planned `4 * k` bytes, ops/conv2d.py column_scratch); without scratch (a field longer than
 * DSP_CONV_COLUMN_MAX) each pixel walks its taps. The four results of a channel are requantized as one vector
 * (requantize.h) and stored with one scatter. Tails of k are predicated loads that read nothing beyond.
 */
#include <arm_mve.h>
#include <stddef.h>
#include <string.h>

#include "eip_kernels.h"
#include "../mac_params.h"
#include "../fixedpoint.h"
#include "requantize.h"

#define PIXELS 4

/* Lane j: init + Sum w[i] col_j[i] over i < k (k > 0); *wsum = Sum w[i] unless wsum is NULL. One tail-predicated loop (DLSTP/LETP:
 * the last chunk's lanes beyond k neither load nor add), in assembly because GCC 12 recomputes every pointer
 * and moves the tail predicate through a core register; the intrinsics below are the same loop in C
 * (EIP_MVE_C_LOOPS builds them; the kernel suite runs both). */
static inline __attribute__((always_inline)) int32x4_t dot_4(const int8_t *w, const int8_t *const col[PIXELS],
                                                             int32_t k, int32_t *wsum, int32_t init)
{
    int32x4_t acc;
    const int8_t *c0 = col[0], *c1 = col[1], *c2 = col[2], *c3 = col[3];
    int32_t a0 = init, a1 = init, a2 = init, a3 = init, s = 0;
#if !defined(EIP_MVE_C_LOOPS)
#define DOT_LOOP(SUM)                                                                                          \
    "   dlstp.8     lr, %[n]\n"                                                                                 \
    "1: vldrb.8     q0, [%[w]], #16\n"                                                                          \
    "   vldrb.8     q1, [%[c0]], #16\n" SUM                                                                     \
    "   vmladava.s8 %[a0], q1, q0\n"                                                                            \
    "   vldrb.8     q2, [%[c1]], #16\n"                                                                         \
    "   vmladava.s8 %[a1], q2, q0\n"                                                                            \
    "   vldrb.8     q1, [%[c2]], #16\n"                                                                         \
    "   vmladava.s8 %[a2], q1, q0\n"                                                                            \
    "   vldrb.8     q2, [%[c3]], #16\n"                                                                         \
    "   vmladava.s8 %[a3], q2, q0\n"                                                                            \
    "   letp        lr, 1b\n"                                                                                   \
    "   vmov        %q[acc][2], %q[acc][0], %[a0], %[a2]\n"                                                     \
    "   vmov        %q[acc][3], %q[acc][1], %[a1], %[a3]\n"                                                     \
    : [acc] "=&w"(acc), [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [s] "+Te"(s),           \
      [w] "+r"(w), [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3)                                   \
    : [n] "r"(k)                                                                                               \
    : "q0", "q1", "q2", "lr", "memory"
    if (wsum != 0) {
        __asm volatile(DOT_LOOP("   vaddva.s8   %[s], q0\n"));
    } else {
        __asm volatile(DOT_LOOP(""));
    }
#undef DOT_LOOP
#else
    for (int32_t n = k; n > 0; n -= 16) {
        const mve_pred16_t lanes = vctp8q((uint32_t)n);
        const int8x16_t wv = vldrbq_z_s8(w, lanes);
        s = vaddvaq_s8(s, wv);
        a0 = vmladavaq_s8(a0, vldrbq_z_s8(c0, lanes), wv);
        a1 = vmladavaq_s8(a1, vldrbq_z_s8(c1, lanes), wv);
        a2 = vmladavaq_s8(a2, vldrbq_z_s8(c2, lanes), wv);
        a3 = vmladavaq_s8(a3, vldrbq_z_s8(c3, lanes), wv);
        w += 16;
        c0 += 16;
        c1 += 16;
        c2 += 16;
        c3 += 16;
    }
    acc = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3);
#endif
    if (wsum != 0) {
        *wsum = s;
    }
    return acc;
}

/* n > 0 bytes from src into 16-byte chunks `step` bytes apart at dst (16: a plain copy; 64: a column of the
 * interleaved four), or `value` throughout where src is NULL: one tail-predicated loop (GCC 12 moves vctp's
 * predicate through a core register on every turn); the intrinsics under EIP_MVE_C_LOOPS. */
static inline __attribute__((always_inline)) void copy_chunks(int8_t *dst, const int8_t *src, int8_t value,
                                                              int32_t n, const int32_t step)
{
#if !defined(EIP_MVE_C_LOOPS)
    if (src != 0) {
        __asm volatile("   dlstp.8 lr, %[n]\n"
                       "1: vldrb.8 q0, [%[src]], #16\n"
                       "   vstrb.8 q0, [%[dst]], %[step]\n"
                       "   letp    lr, 1b\n"
                       : [dst] "+r"(dst), [src] "+r"(src)
                       : [n] "r"(n), [step] "i"(step)
                       : "q0", "lr", "memory");
    } else {
        __asm volatile("   vdup.8  q0, %[v]\n"
                       "   dlstp.8 lr, %[n]\n"
                       "1: vstrb.8 q0, [%[dst]], %[step]\n"
                       "   letp    lr, 1b\n"
                       : [dst] "+r"(dst)
                       : [n] "r"(n), [v] "r"((int32_t)value), [step] "i"(step)
                       : "q0", "lr", "memory");
    }
#else
    const int8x16_t fill = vdupq_n_s8(value);
    for (; n > 0; n -= 16, dst += step) {
        const mve_pred16_t lanes = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, src != 0 ? vldrbq_z_s8(src, lanes) : fill, lanes);
        if (src != 0) {
            src += 16;
        }
    }
#endif
}

/* rows > 0 runs of `run` > 0 bytes, `step` bytes apart from src, one after another into dst: the receptive
 * field of a pixel whose window lies inside the image, in one piece of assembly (one loop per row, the
 * tail predicated). */
static inline void copy_rows(int8_t *dst, const int8_t *src, int32_t run, int32_t step, int32_t rows)
{
#if !defined(EIP_MVE_C_LOOPS)
    const int8_t *s;
    int8_t *d;
    __asm volatile("2: mov     %[s], %[src]\n"
                   "   mov     %[d], %[dst]\n"
                   "   dlstp.8 lr, %[run]\n"
                   "1: vldrb.8 q0, [%[s]], #16\n"
                   "   vstrb.8 q0, [%[d]], #16\n"
                   "   letp    lr, 1b\n"
                   "   add     %[src], %[src], %[step]\n"
                   "   add     %[dst], %[dst], %[run]\n"
                   "   subs    %[rows], %[rows], #1\n"
                   "   bne     2b\n"
                   : [s] "=&r"(s), [d] "=&r"(d), [src] "+r"(src), [dst] "+r"(dst), [rows] "+r"(rows)
                   : [run] "r"(run), [step] "r"(step)
                   : "q0", "lr", "memory", "cc");
#else
    for (; rows > 0; --rows, src += step, dst += run) {
        copy_chunks(dst, src, 0, run, 16);
    }
#endif
}

/* The receptive field of output pixel (oy, ox), channels [c0, c0 + filter_c), as int8 codes (padding: in_zp):
 * the run of codes at position pos goes to dst + pos * STEP / 16, STEP 16 for a contiguous column, 64 for a
 * column of the interleaved four (every run then starts on a chunk: filter_c a multiple of 16). */
static inline __attribute__((always_inline)) void unroll_field(const eip_conv2d_params_t *p, const int8_t *in,
                                                               int32_t oy, int32_t ox, int32_t c0, int8_t *dst,
                                                               const int32_t step)
{
    const int32_t fc = p->filter_c, scale = step / 16;
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t in_x0 = ox * p->stride_w - p->pad_left;
    const int8_t zp = (int8_t)p->in_zp;
    const int whole_rows = p->dilation_w == 1 && fc == p->in_c && in_x0 >= 0 && in_x0 + p->filter_w <= p->in_w;
    if (step == 16 && whole_rows && in_y0 >= 0 && in_y0 + (p->filter_h - 1) * p->dilation_h < p->in_h) {
        copy_rows(dst, in + (in_y0 * p->in_w + in_x0) * p->in_c, p->filter_w * fc, p->dilation_h * p->in_w * p->in_c,
                  p->filter_h);
        return;
    }
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t iy = in_y0 + ky * p->dilation_h;
        if (iy < 0 || iy >= p->in_h || whole_rows) {
            const int8_t *src = iy < 0 || iy >= p->in_h ? 0 : in + (iy * p->in_w + in_x0) * p->in_c;
            copy_chunks(dst, src, zp, p->filter_w * fc, step);
            dst += scale * p->filter_w * fc;
            continue;
        }
        for (int32_t kx = 0; kx < p->filter_w; ++kx, dst += scale * fc) {
            const int32_t ix = in_x0 + kx * p->dilation_w;
            copy_chunks(dst, ix >= 0 && ix < p->in_w ? in + (iy * p->in_w + ix) * p->in_c + c0 : 0, zp, fc, step);
        }
    }
}

static void fill_column(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int32_t c0,
                        int8_t *col)
{
    unroll_field(p, in, oy, ox, c0, col, 16);
}

/* One pixel's dot product with one filter row, tap by tap over the taps inside the image (x - in_zp summed
 * directly): the path without scratch. */
static int32_t dot_taps(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int32_t c0,
                        const int8_t *w)
{
    const int32_t fc = p->filter_c;
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t in_x0 = ox * p->stride_w - p->pad_left;
    int32_t acc = 0, wsum = 0;
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t iy = in_y0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->filter_w; ++kx, w += fc) {
            const int32_t ix = in_x0 + kx * p->dilation_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                continue;
            }
            const int8_t *x = in + (iy * p->in_w + ix) * p->in_c + c0;
            for (int32_t i = 0; i < fc; i += 16) {
                const mve_pred16_t lanes = vctp8q((uint32_t)(fc - i));
                const int8x16_t wv = vldrbq_z_s8(w + i, lanes);
                wsum = vaddvaq_s8(wsum, wv);
                acc = vmladavaq_s8(acc, vldrbq_z_s8(x + i, lanes), wv);
            }
        }
    }
    return eip_add_wrap(acc, (int32_t)(0u - (uint32_t)p->in_zp * (uint32_t)wsum));
}

/* What the small-k assembly reads at immediate offsets. */
typedef struct {
    int32x4_t act_min;        /* +0 */
    int32x4_t act_max;        /* +16 */
    uint32x4_t offsets;       /* +32: the four pixels' output offsets */
    int32_t out_zp;           /* +48 */
    int32_t k;                /* +52 */
    const int8_t *col[PIXELS]; /* +56 */
} small_k_t;
/* the assembly's immediate offsets */
_Static_assert(offsetof(small_k_t, offsets) == 32 && offsetof(small_k_t, out_zp) == 48 &&
               offsetof(small_k_t, k) == 52 && offsetof(small_k_t, col) == 56 && sizeof(int8_t *) == 4,
               "small_k_t layout");

/* Output channels of four pixels whose columns hold k <= 16 codes: the columns stay in four vector registers
 * for every channel, whose filter row is one predicated load; the folded bias, the requantization (as
 * eip_mve_mbqm_n, with the shift's two halves taken branch-free), + out_zp, the clamp and a scatter store of
 * the four results follow in the same loop. */
static void channels_small_k(const small_k_t *ctx, const int8_t *w, const int32_t *folded, const int32_t *multiplier,
                             const int32_t *shift, int32_t n, int8_t *out, int right_shifts)
{
#if !defined(EIP_MVE_C_LOOPS)
    int32_t a0, a1, a2, a3, t;
    /* REQUANT takes q5 (the four sums with the folded bias), a1 = the shift, a2 = the multiplier */
#define SMALL_K_LOOP(REQUANT)                                                                                  \
    "   ldr          %[a0], [%[ctx], #56]\n"                                                                   \
    "   ldr          %[a1], [%[ctx], #60]\n"                                                                   \
    "   ldr          %[a2], [%[ctx], #64]\n"                                                                   \
    "   ldr          %[a3], [%[ctx], #68]\n"                                                                   \
    "   ldr          %[t], [%[ctx], #52]\n"                                                                    \
    "   vctp.8       %[t]\n"                                                                                   \
    "   vpstttt\n"                                                                                             \
    "   vldrbt.8     q0, [%[a0]]\n"                                                                            \
    "   vldrbt.8     q1, [%[a1]]\n"                                                                            \
    "   vldrbt.8     q2, [%[a2]]\n"                                                                            \
    "   vldrbt.8     q3, [%[a3]]\n"                                                                            \
    "   dls          lr, %[n]\n"                                                                               \
    "1: vpst\n"                                                                                                \
    "   vldrbt.8     q4, [%[w]]\n"                                                                             \
    "   add          %[w], %[w], %[t]\n"                                                                       \
    "   vmladav.s8   %[a0], q0, q4\n"                                                                          \
    "   vmladav.s8   %[a1], q1, q4\n"                                                                          \
    "   vmladav.s8   %[a2], q2, q4\n"                                                                          \
    "   vmladav.s8   %[a3], q3, q4\n"                                                                          \
    "   vmov         q5[2], q5[0], %[a0], %[a2]\n"                                                             \
    "   vmov         q5[3], q5[1], %[a1], %[a3]\n"                                                             \
    "   ldr          %[a0], [%[folded]], #4\n"                                                                 \
    "   vadd.i32     q5, q5, %[a0]\n"                                                                          \
    "   ldr          %[a1], [%[shift]], #4\n"                                                                  \
    "   ldr          %[a2], [%[mult]], #4\n"                                                                   \
    REQUANT                                                                                                    \
    "   ldr          %[a0], [%[ctx], #48]\n"                                                                   \
    "   vadd.i32     q5, q5, %[a0]\n"                                                                          \
    "   vldrw.32     q6, [%[ctx]]\n"                                                                           \
    "   vmax.s32     q5, q5, q6\n"                                                                             \
    "   vldrw.32     q6, [%[ctx], #16]\n"                                                                      \
    "   vmin.s32     q5, q5, q6\n"                                                                             \
    "   vldrw.32     q6, [%[ctx], #32]\n"                                                                      \
    "   vstrb.32     q5, [%[out], q6]\n"                                                                       \
    "   adds         %[out], %[out], #1\n"                                                                     \
    "   le           lr, 1b\n"                                                                                 \
    : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [t] "=&r"(t), [w] "+r"(w),          \
      [folded] "+r"(folded), [shift] "+r"(shift), [mult] "+r"(multiplier), [out] "+r"(out)                    \
    : [ctx] "r"(ctx), [n] "r"(n)                                                                               \
    : "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "lr", "memory"
    if (right_shifts) {   /* every shift < 0: no pre-shift, and the tie correction always applies */
        __asm volatile(SMALL_K_LOOP("   vqrdmulh.s32 q5, q5, %[a2]\n"
                                    "   vshr.s32     q7, q5, #31\n"
                                    "   vqadd.s32    q5, q5, q7\n"
                                    "   vrshl.s32    q5, %[a1]\n"));
    } else {
        __asm volatile(SMALL_K_LOOP("   bic          %[a3], %[a1], %[a1], asr #31\n"   /* max(shift, 0) */
                                    "   vshl.s32     q5, %[a3]\n"
                                    "   vqrdmulh.s32 q5, q5, %[a2]\n"
                                    "   and          %[a1], %[a1], %[a1], asr #31\n"   /* min(shift, 0) */
                                    "   asr          %[a3], %[a1], #31\n"              /* -1 when it shifts */
                                    "   vdup.32      q6, %[a3]\n"
                                    "   vshr.s32     q7, q5, #31\n"
                                    "   vand         q7, q7, q6\n"
                                    "   vqadd.s32    q5, q5, q7\n"
                                    "   vrshl.s32    q5, %[a1]\n"));
    }
#undef SMALL_K_LOOP
#else
    (void)right_shifts;
    const mve_pred16_t lanes = vctp8q((uint32_t)ctx->k);
    const int8x16_t x0 = vldrbq_z_s8(ctx->col[0], lanes), x1 = vldrbq_z_s8(ctx->col[1], lanes);
    const int8x16_t x2 = vldrbq_z_s8(ctx->col[2], lanes), x3 = vldrbq_z_s8(ctx->col[3], lanes);
    for (int32_t c = 0; c < n; ++c, w += ctx->k) {
        const int8x16_t wv = vldrbq_z_s8(w, lanes);
        int32x4_t v = vdupq_n_s32(vmladavq_s8(x0, wv));
        v = vsetq_lane_s32(vmladavq_s8(x1, wv), v, 1);
        v = vsetq_lane_s32(vmladavq_s8(x2, wv), v, 2);
        v = vsetq_lane_s32(vmladavq_s8(x3, wv), v, 3);
        v = eip_mve_mbqm_n(vaddq_n_s32(v, folded[c]), multiplier[c], shift[c]);
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, ctx->out_zp), ctx->act_min), ctx->act_max);
        vstrbq_scatter_offset_s32(out + c, ctx->offsets, v);
    }
#endif
}

/* ---- four pixels through every output channel, columns interleaved ---------------------------------------------
 * The common case (the generator's folded bias, no shift to the left, a receptive field of 17 .. 768 codes,
 * four pixels; an unpadded 1x1 conv, channels a multiple of 16, or a field of at most CONV_SHORT_FIELD codes,
 * unrolled on the stack first): the four columns are laid out in the layer's scratch interleaved by 16-byte
 * chunks (chunk i of pixel j at 64 i + 16 j), so one pointer with immediate offsets reads all four and one register
 * restores it for the next channel. The channel loop is one piece of assembly: per channel, the folded bias
 * into four accumulators, the tail-predicated dot product loop (one filter chunk, four column chunks, four
 * VMLADAVA), the requantization of the four sums as one vector with the channel's multiplier and shift as
 * scalars (VQRDMULH, the tie correction, VRSHL), + out_zp, the clamp and a scatter store: about 22
 * instructions besides the dot products, against 40 for the same steps in C (GCC 12 reloads the pointers and
 * parameters of each channel). eip_mve_conv_channels_c is the same loop in C (EIP_MVE_C_LOOPS builds it; the
 * kernel suite runs both). */

#define CONV_SHORT_FIELD 64   /* bytes of stack for a first layer's field (3x3x3: 27, KWS's 10x4x1: 40) */

/* What the channel loop reads (the assembly's immediate offsets). */
typedef struct {
    const int8_t *cols;         /* +0: the interleaved columns */
    const int8_t *filter;       /* +4: the first channel's filter row */
    const int32_t *folded;      /* +8: the first channel's folded bias */
    const int32_t *multiplier;  /* +12 */
    const int32_t *shift;       /* +16: every one <= 0 */
    int8_t *out;                /* +20: the first channel of the first pixel */
    int32_t k;                  /* +24: codes per column */
    int32_t channels;           /* +28: > 0 */
    int32_t overshoot;          /* +32: ceil16(k) - k, what the filter pointer's last chunk steps past its row */
    int32_t right_shifts;       /* every shift < 0 (else <= 0: the tie correction only where it shifts) */
    int32_t pad[2];
    int32x4_t out_zp;           /* +48 */
    int32x4_t act_min;          /* +64 */
    int32x4_t act_max;          /* +80 */
    uint32x4_t offsets;         /* +96: pixel j's output at j * out_c */
} conv_group_t;
_Static_assert(offsetof(conv_group_t, k) == 24 && offsetof(conv_group_t, overshoot) == 32 &&
               offsetof(conv_group_t, out_zp) == 48 && offsetof(conv_group_t, offsets) == 96 && sizeof(void *) == 4,
               "conv_group_t layout (the assembly's immediate offsets)");

#if !defined(EIP_MVE_C_LOOPS)
/* r12 = the group, r1 filter, r3 columns, r5 k, r7 folded, r9 multiplier, r10 shift, r11 out, r0 channels
 * left; the accumulators r2, r4, r6, r8 (VMLADAVA takes even registers), the temporaries after the loop.
 * q0 filter chunk, q1/q2 column chunks (q1 the tie correction after), q3 the four results, q4 out_zp, q5/q6
 * the bounds, q7 the output offsets. FIX: the filter pointer's step back past a short last chunk; TIE: the
 * tie correction (-1 where the sum is negative, in q1) kept only where the channel's shift is negative. */
#define CONV_CHANNELS(NAME, FIX, TIE)                                                                               \
    __asm__("   .text\n"                                                                                        \
            "   .p2align 2\n"                                                                                   \
            "   .type " #NAME ", %function\n"                                                                   \
            "   .thumb_func\n" #NAME ":\n"                                                                      \
            "   push    {r4-r11, lr}\n"                                                                         \
            "   vpush   {d8-d15}\n"                                                                             \
            "   mov     r12, r0\n"                                                                              \
            "   ldr     r1, [r12, #4]\n"                                                                        \
            "   ldr     r7, [r12, #8]\n"                                                                        \
            "   ldr     r9, [r12, #12]\n"                                                                       \
            "   ldr     r10, [r12, #16]\n"                                                                      \
            "   ldr     r11, [r12, #20]\n"                                                                      \
            "   ldr     r5, [r12, #24]\n"                                                                       \
            "   ldr     r0, [r12, #28]\n"                                                                       \
            "   vldrw.32 q4, [r12, #48]\n"                                                                      \
            "   vldrw.32 q5, [r12, #64]\n"                                                                      \
            "   vldrw.32 q6, [r12, #80]\n"                                                                      \
            "   vldrw.32 q7, [r12, #96]\n"                                                                      \
            "2: ldr     r3, [r12]\n"                                                                            \
            "   ldr     r2, [r7], #4\n"                                                                         \
            "   mov     r4, r2\n"                                                                               \
            "   mov     r6, r2\n"                                                                               \
            "   mov     r8, r2\n"                                                                               \
            "   dlstp.8 lr, r5\n"                                                                               \
            "1: vldrb.8 q0, [r1], #16\n"                                                                        \
            "   vldrb.8 q1, [r3, #16]\n"                                                                        \
            "   vmladava.s8 r4, q1, q0\n"                                                                       \
            "   vldrb.8 q2, [r3, #32]\n"                                                                        \
            "   vmladava.s8 r6, q2, q0\n"                                                                       \
            "   vldrb.8 q1, [r3, #48]\n"                                                                        \
            "   vmladava.s8 r8, q1, q0\n"                                                                       \
            "   vldrb.8 q2, [r3], #64\n"                                                                        \
            "   vmladava.s8 r2, q2, q0\n"                                                                       \
            "   letp    lr, 1b\n"                                                                               \
            FIX                                                                                                 \
            "   vmov    q3[2], q3[0], r2, r6\n"                                                                 \
            "   vmov    q3[3], q3[1], r4, r8\n"                                                                 \
            "   ldr     r2, [r9], #4\n"                                                                         \
            "   vqrdmulh.s32 q3, q3, r2\n"                                                                      \
            "   vshr.s32 q1, q3, #31\n"                                                                         \
            "   ldr     r2, [r10], #4\n"                                                                        \
            TIE                                                                                                 \
            "   vqadd.s32 q3, q3, q1\n"                                                                         \
            "   vrshl.s32 q3, r2\n"                                                                             \
            "   vadd.i32 q3, q3, q4\n"                                                                          \
            "   vmax.s32 q3, q3, q5\n"                                                                          \
            "   vmin.s32 q3, q3, q6\n"                                                                          \
            "   vstrb.32 q3, [r11, q7]\n"                                                                       \
            "   adds    r11, #1\n"                                                                              \
            "   subs    r0, #1\n"                                                                               \
            "   bne     2b\n"                                                                                   \
            "   vpop    {d8-d15}\n"                                                                             \
            "   pop     {r4-r11, pc}\n"                                                                         \
            "   .size " #NAME ", . - " #NAME "\n")
#define FIX_K "   ldr r3, [r12, #32]\n   subs r1, r1, r3\n"
#define TIE_SHIFTS "   lsrs r3, r2, #31\n   vmul.i32 q1, q1, r3\n"
CONV_CHANNELS(eip_mve_conv_channels_k16, "", "");
CONV_CHANNELS(eip_mve_conv_channels_kany, FIX_K, "");
CONV_CHANNELS(eip_mve_conv_channels_k16_zero, "", TIE_SHIFTS);
CONV_CHANNELS(eip_mve_conv_channels_kany_zero, FIX_K, TIE_SHIFTS);
#undef CONV_CHANNELS
#undef FIX_K
#undef TIE_SHIFTS
/* The four functions are local symbols of this object (no .global): the calls below resolve when it is
 * assembled, so two exported runtimes linked into one program cannot collide on them. */
void eip_mve_conv_channels_k16(const conv_group_t *g);
void eip_mve_conv_channels_kany(const conv_group_t *g);
void eip_mve_conv_channels_k16_zero(const conv_group_t *g);
void eip_mve_conv_channels_kany_zero(const conv_group_t *g);
#else
/* The same loop in C. */
static void eip_mve_conv_channels_c(const conv_group_t *g)
{
    const int8_t *w = g->filter;
    int8_t *out = g->out;
    for (int32_t c = 0; c < g->channels; ++c, w += g->k, ++out) {
        int32_t a[PIXELS];
        for (int32_t j = 0; j < PIXELS; ++j) {
            a[j] = g->folded[c];
        }
        for (int32_t i = 0; i < g->k; i += 16) {
            const mve_pred16_t lanes = vctp8q((uint32_t)(g->k - i));
            const int8x16_t wv = vldrbq_z_s8(w + i, lanes);
            for (int32_t j = 0; j < PIXELS; ++j) {
                a[j] = vmladavaq_s8(a[j], vldrbq_z_s8(g->cols + 4 * i + 16 * j, lanes), wv);
            }
        }
        int32x4_t v = vsetq_lane_s32(a[3], vsetq_lane_s32(a[2], vsetq_lane_s32(a[1], vdupq_n_s32(a[0]), 1), 2), 3);
        v = vqrdmulhq_n_s32(v, g->multiplier[c]);
        v = vrshlq_n_s32(g->shift[c] < 0 ? vqaddq_s32(v, vshrq_n_s32(v, 31)) : v, g->shift[c]);
        v = vminq_s32(vmaxq_s32(vaddq_s32(v, g->out_zp), g->act_min), g->act_max);
        vstrbq_scatter_offset_s32(out, g->offsets, v);
    }
}
#endif

static inline void conv_channels(const conv_group_t *g)
{
#if !defined(EIP_MVE_C_LOOPS)
    if (g->right_shifts) {
        (g->overshoot == 0 ? eip_mve_conv_channels_k16 : eip_mve_conv_channels_kany)(g);
    } else {
        (g->overshoot == 0 ? eip_mve_conv_channels_k16_zero : eip_mve_conv_channels_kany_zero)(g);
    }
#else
    eip_mve_conv_channels_c(g);
#endif
}

/* A short field (at most CONV_SHORT_FIELD codes) whose runs do not start on chunks, a first layer's: for a
 * pixel whose window lies inside the image, each code's offset from the window's first byte (0 past the field,
 * so that whole chunks gather harmlessly), 8 codes per gather into half a chunk; other pixels are unrolled on
 * the stack first. */
typedef struct {
    uint16_t offsets[CONV_SHORT_FIELD];
    int32_t chunks;         /* ceil(k / 16) */
    int32_t y_lo, y_hi;     /* the output rows and columns whose windows lie inside the image */
    int32_t x_lo, x_hi;
} short_field_t;

static void short_field_setup(const eip_conv2d_params_t *p, short_field_t *f)
{
    const int32_t fc = p->filter_c, k = p->filter_h * p->filter_w * fc;
    const int32_t span_h = (p->filter_h - 1) * p->dilation_h, span_w = (p->filter_w - 1) * p->dilation_w;
    const int32_t last = (span_h * p->in_w + span_w) * p->in_c + fc - 1;
    f->chunks = (k + 15) / 16;
    f->y_lo = (p->pad_top + p->stride_h - 1) / p->stride_h;
    f->x_lo = (p->pad_left + p->stride_w - 1) / p->stride_w;
    f->y_hi = p->in_h + p->pad_top - span_h <= 0 ? 0 : (p->in_h - 1 + p->pad_top - span_h) / p->stride_h + 1;
    f->x_hi = p->in_w + p->pad_left - span_w <= 0 ? 0 : (p->in_w - 1 + p->pad_left - span_w) / p->stride_w + 1;
    if (last > 0xFFFF) {   /* no pixel gathers */
        f->y_hi = 0;
    }
    for (int32_t i = 0; i < CONV_SHORT_FIELD; ++i) {
        const int32_t tap = i / fc, ky = tap / p->filter_w, kx = tap % p->filter_w;
        f->offsets[i] = i < k ? (uint16_t)((ky * p->dilation_h * p->in_w + kx * p->dilation_w) * p->in_c + i % fc) : 0;
    }
}

static void put_short_field(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int32_t c0,
                            const short_field_t *f, int8_t *cols, int32_t j)
{
    if (oy >= f->y_lo && oy < f->y_hi && ox >= f->x_lo && ox < f->x_hi) {
        const int8_t *base = in + ((oy * p->stride_h - p->pad_top) * p->in_w + ox * p->stride_w - p->pad_left) *
                                  p->in_c + c0;
        int8_t *dst = cols + 16 * j;
        const uint16_t *offsets = f->offsets;
#if !defined(EIP_MVE_C_LOOPS)
        __asm volatile("   dls      lr, %[n]\n"
                       "1: vldrh.u16 q0, [%[o]], #16\n"
                       "   vldrb.s16 q1, [%[b], q0]\n"
                       "   vstrb.16 q1, [%[d]]\n"
                       "   vldrh.u16 q0, [%[o]], #16\n"
                       "   vldrb.s16 q1, [%[b], q0]\n"
                       "   vstrb.16 q1, [%[d], #8]\n"
                       "   adds     %[d], #64\n"
                       "   le       lr, 1b\n"
                       : [d] "+l"(dst), [o] "+r"(offsets)
                       : [b] "r"(base), [n] "r"(f->chunks)
                       : "q0", "q1", "lr", "memory", "cc");
#else
        for (int32_t i = 0; i < f->chunks; ++i, dst += 64, offsets += 16) {
            vstrbq_s16(dst, vldrbq_gather_offset_s16(base, vldrhq_u16(offsets)));
            vstrbq_s16(dst + 8, vldrbq_gather_offset_s16(base, vldrhq_u16(offsets + 8)));
        }
#endif
        return;
    }
    int8_t field[CONV_SHORT_FIELD];
    fill_column(p, in, oy, ox, c0, field);
    copy_chunks(cols + 16 * j, field, 0, p->filter_h * p->filter_w * p->filter_c, 64);
}

/* Pixel j's column of the interleaved four (filter_c a multiple of 16). */
static void interleave_column(const eip_conv2d_params_t *p, const int8_t *in, int32_t oy, int32_t ox, int32_t c0,
                              int8_t *cols, int32_t j)
{
    unroll_field(p, in, oy, ox, c0, cols + 16 * j, 64);
}

/* Output channels [c_begin, c_end) of `count` pixels whose columns are col[]; out points at the first
 * pixel's output, the pixels lie out_c bytes apart. */
static void channels_4(const eip_conv2d_params_t *p, const int8_t *filter, const int32_t *bias,
                       const int8_t *const col[PIXELS], int32_t count, int32_t c_begin, int32_t c_end, int8_t *out,
                       int right_shifts)
{
    /* locals, not p->: every int8 store may alias the params for the compiler, which would reload them */
    const int32_t k = p->filter_h * p->filter_w * p->filter_c;
    const uint32_t in_zp = (uint32_t)p->in_zp;
    const int32_t *multiplier = p->multiplier, *shift = p->shift, *folded = p->folded_bias;
    const int32_t out_zp = p->out_zp;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)p->out_c);
    const int8_t *w = filter + c_begin * k;
    if (folded != 0 && count == PIXELS && right_shifts) {
        /* the common case: the sums start at the folded bias, every shift is a right shift (no pre-shift,
         * the tie correction always applies: eip_mve_mbqm_n without its branches), four pixels stored */
        for (int32_t c = c_begin; c < c_end; ++c, w += k) {
            int32x4_t v = vqrdmulhq_n_s32(dot_4(w, col, k, 0, folded[c]), multiplier[c]);
            v = vrshlq_n_s32(vqaddq_s32(v, vshrq_n_s32(v, 31)), shift[c]);
            v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, out_zp), lo), hi);
            vstrbq_scatter_offset_s32(out + c, offsets, v);
        }
        return;
    }
    const mve_pred16_t pixels = vctp32q((uint32_t)count);
    for (int32_t c = c_begin; c < c_end; ++c, w += k) {
        int32x4_t v;
        if (folded != 0) {
            v = dot_4(w, col, k, 0, folded[c]);
        } else {
            int32_t wsum;
            v = dot_4(w, col, k, &wsum, 0);
            const uint32_t fold = (bias != 0 ? (uint32_t)bias[c] : 0u) - in_zp * (uint32_t)wsum;
            v = vaddq_n_s32(v, (int32_t)fold);
        }
        v = eip_mve_mbqm_n(v, multiplier[c], shift[c]);
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, out_zp), lo), hi);
        vstrbq_scatter_offset_p_s32(out + c, offsets, v, pixels);
    }
}

eip_status_t eip_conv2d(const eip_conv2d_params_t *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                        int8_t *output)
{
    const eip_status_t status = eip_conv2d_check(p, input, filter, output);
    if (status != EIP_OK) {
        return status;
    }
    const int32_t fc = p->filter_c;
    const int32_t k = p->filter_h * p->filter_w * fc;
    const int32_t groups = p->in_c / fc;
    const int32_t per_group = p->out_c / groups;
    const int32_t pixels = p->out_h * p->out_w;
    int32_t shifts = INT32_MIN;   /* the largest shift: < 0, as a layer's requantization nearly always is */
    for (int32_t c = 0; c < p->out_c; ++c) {
        shifts = p->shift[c] > shifts ? p->shift[c] : shifts;
    }
    const int right_shifts = shifts < 0;
    /* an unpadded 1x1 conv reads each pixel's channels where they lie */
    const int direct = p->filter_h == 1 && p->filter_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
                       (p->out_h - 1) * p->stride_h < p->in_h && (p->out_w - 1) * p->stride_w < p->in_w;
    /* the interleaved channel loop: its scratch is planned (ops/conv2d.py column_scratch: 4 * ceil16(k)) */
    const int interleaved = p->scratch != 0 && p->folded_bias != 0 && shifts <= 0 && k > 16 &&
                            (direct || fc % 16 == 0 || k <= CONV_SHORT_FIELD);
    conv_group_t group;
    group.cols = p->scratch;
    group.k = k;
    group.channels = per_group;
    group.overshoot = ((k + 15) & ~15) - k;
    group.right_shifts = right_shifts;
    group.out_zp = vdupq_n_s32(p->out_zp);
    group.act_min = vdupq_n_s32(p->act_min);
    group.act_max = vdupq_n_s32(p->act_max);
    group.offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)p->out_c);
    short_field_t shortf;
    if (interleaved && !direct && fc % 16 != 0) {
        short_field_setup(p, &shortf);
    }
    /* a field of at most 16 codes: four columns held in vector registers through the channels */
    const int small = p->folded_bias != 0 && k <= 16;
    small_k_t ctx = {group.act_min, group.act_max, group.offsets, p->out_zp, k, {0, 0, 0, 0}};
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out = output + b * pixels * p->out_c;
        if (!direct && p->scratch == 0) {
            for (int32_t pix = 0; pix < pixels; ++pix) {
                const int32_t oy = pix / p->out_w, ox = pix % p->out_w;
                for (int32_t c = 0; c < p->out_c; ++c) {
                    int32_t acc = dot_taps(p, in, oy, ox, (c / per_group) * fc, filter + c * k);
                    if (bias != 0) {
                        acc = eip_add_wrap(acc, bias[c]);
                    }
                    out[pix * p->out_c + c] = eip_requantize(acc, p->multiplier[c], p->shift[c], p->out_zp,
                                                             p->act_min, p->act_max);
                }
            }
            continue;
        }
        for (int32_t pix = 0; pix < pixels; pix += PIXELS) {
            const int32_t count = pixels - pix < PIXELS ? pixels - pix : PIXELS;
            if (interleaved && count == PIXELS) {
                for (int32_t g = 0; g < groups; ++g) {
                    for (int32_t j = 0; j < PIXELS; ++j) {
                        const int32_t oy = (pix + j) / p->out_w, ox = (pix + j) % p->out_w;
                        if (direct) {
                            const int8_t *x = in + (oy * p->stride_h * p->in_w + ox * p->stride_w) * p->in_c;
                            copy_chunks(p->scratch + 16 * j, x + g * fc, 0, k, 64);
                        } else if (fc % 16 == 0) {
                            interleave_column(p, in, oy, ox, g * fc, p->scratch, j);
                        } else {   /* a short field whose runs do not start on chunks */
                            put_short_field(p, in, oy, ox, g * fc, &shortf, p->scratch, j);
                        }
                    }
                    group.filter = filter + g * per_group * k;
                    group.folded = p->folded_bias + g * per_group;
                    group.multiplier = p->multiplier + g * per_group;
                    group.shift = p->shift + g * per_group;
                    group.out = out + pix * p->out_c + g * per_group;
                    conv_channels(&group);
                }
                continue;
            }
            if (small && count == PIXELS && (direct || p->scratch != 0)) {
                for (int32_t g = 0; g < groups; ++g) {
                    for (int32_t j = 0; j < PIXELS; ++j) {
                        const int32_t oy = (pix + j) / p->out_w, ox = (pix + j) % p->out_w;
                        if (direct) {
                            ctx.col[j] = in + (oy * p->stride_h * p->in_w + ox * p->stride_w) * p->in_c + g * fc;
                        } else {
                            fill_column(p, in, oy, ox, g * fc, p->scratch + j * k);
                            ctx.col[j] = p->scratch + j * k;
                        }
                    }
                    const int32_t c0 = g * per_group;
                    channels_small_k(&ctx, filter + c0 * k, p->folded_bias + c0, p->multiplier + c0, p->shift + c0,
                                     per_group, out + pix * p->out_c + c0, right_shifts);
                }
                continue;
            }
            for (int32_t g = 0; g < groups; ++g) {
                const int8_t *col[PIXELS];
                for (int32_t j = 0; j < PIXELS; ++j) {
                    const int32_t q = pix + (j < count ? j : count - 1);   /* a short block repeats its last pixel */
                    const int32_t oy = q / p->out_w, ox = q % p->out_w;
                    if (direct) {
                        col[j] = in + (oy * p->stride_h * p->in_w + ox * p->stride_w) * p->in_c + g * fc;
                    } else if (j < count) {
                        fill_column(p, in, oy, ox, g * fc, p->scratch + j * k);
                        col[j] = p->scratch + j * k;
                    } else {
                        col[j] = col[count - 1];
                    }
                }
                channels_4(p, filter, bias, col, count, g * per_group, (g + 1) * per_group, out + pix * p->out_c,
                           right_shifts);
            }
        }
    }
    return EIP_OK;
}
