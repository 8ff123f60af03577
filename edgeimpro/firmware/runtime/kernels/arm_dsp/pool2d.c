/*
 * MAX_POOL_2D and AVERAGE_POOL_2D, int8, Arm DSP variant: same results as ../pool2d.c, SIMD across channels.
 * Max keeps four channels' largest codes in one word (SSUB8 sets a byte's GE flag where it is not below the
 * other, SEL takes those bytes), from -128 as the reference. Average adds a word of four channels to two
 * words of halfword sums per cell (SXTAB16 and its ROR #8 form: channels 0 and 2, 1 and 3), eight channels a
 * turn where there are eight; halfwords hold up to 256 cells of +-128 exactly, so they are added into int32
 * sums every 256 cells of a run (a window row, or the whole window where its rows span the input's width and
 * so follow one another in memory) and at its end, then each channel's mean is rounded as the reference
 * rounds it. Output pixels in raster order, each finished before the next (the streaming contract of
 * ops/pool2d.py); the last channels % 4 of a pixel as the reference computes them.
 */
#include "eip_kernels.h"
#include "../fixedpoint.h"
#include "../pool_params.h"
#include "simd.h"

/* The larger code of each byte of a and b: SSUB8 a - b sets the GE flag of each byte where a >= b, SEL takes
 * those bytes from a and the others from b. One asm statement: the compiler does not see the GE flags. */
static inline int32_t max_s8x4(int32_t a, int32_t b)
{
    int32_t r;
    __asm("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}

/* The smaller code of each byte of a and b: SSUB8 a - b, SEL takes b's bytes where a >= b. */
static inline int32_t min_s8x4(int32_t a, int32_t b)
{
    int32_t r;
    __asm("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}

static inline int32_t bytes4(int32_t code)
{
    return (int32_t)(((uint32_t)code & 0xFFu) * 0x01010101u);
}

eip_status_t eip_max_pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output)
{
    const eip_status_t status = eip_pool2d_check(p, input, output);
    if (status != EIP_OK) {
        return status;
    }
    const int32_t ch = p->channels, row = p->in_w * ch, lo4 = bytes4(p->act_min), hi4 = bytes4(p->act_max);
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const eip_pool_window_t w = eip_pool_window(p, oy, ox);
                const int8_t *cells = in + w.y0 * row + w.x0 * ch;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4) {
                    int32_t m = (int32_t)0x80808080u;
                    for (int32_t y = w.y0; y < w.y1; ++y) {
                        const int8_t *src = cells + (y - w.y0) * row + c;
                        for (int32_t x = w.x0; x < w.x1; ++x, src += ch) {
                            m = max_s8x4(eip_load_s8x4(src), m);
                        }
                    }
                    const int32_t v = min_s8x4(max_s8x4(m, lo4), hi4);
                    memcpy(out + c, &v, sizeof v);
                }
                for (; c < ch; ++c) {
                    int32_t m = INT8_MIN;
                    for (int32_t y = w.y0; y < w.y1; ++y) {
                        for (int32_t x = w.x0; x < w.x1; ++x) {
                            m = eip_max_i32(m, cells[(y - w.y0) * row + (x - w.x0) * ch + c]);
                        }
                    }
                    out[c] = (int8_t)eip_clamp_i32(m, p->act_min, p->act_max);
                }
            }
        }
    }
    return EIP_OK;
}

/* The sums over n > 0 cells (`stride` bytes apart from src) of 4 * words channels (words 1 or 2) added to
 * sum[0 .. 4 * words), channel order: halfword sums of 256 cells at most, then into int32. */
static inline __attribute__((always_inline)) void add_cells(const int8_t *src, int32_t stride, int32_t n,
                                                            int32_t words, int32_t *sum)
{
    while (n > 0) {
        int32_t m = n < 256 ? n : 256;
        n -= m;
        int32_t a02 = 0, a13 = 0, b02 = 0, b13 = 0;
        do {
            const int32_t v = eip_load_s8x4(src);
            a02 = __sxtab16(a02, v);
            a13 = eip_sxtab16_odd(a13, v);
            if (words == 2) {
                const int32_t u = eip_load_s8x4(src + 4);
                b02 = __sxtab16(b02, u);
                b13 = eip_sxtab16_odd(b13, u);
            }
            src += stride;
        } while (--m);
        sum[0] += (int16_t)a02;
        sum[1] += (int16_t)a13;
        sum[2] += a02 >> 16;
        sum[3] += a13 >> 16;
        if (words == 2) {
            sum[4] += (int16_t)b02;
            sum[5] += (int16_t)b13;
            sum[6] += b02 >> 16;
            sum[7] += b13 >> 16;
        }
    }
}

/* The reference's mean: to nearest, ties away from zero (INT8_SEMANTICS §3.5). */
static inline int32_t mean(int32_t sum, int32_t count)
{
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

eip_status_t eip_average_pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output)
{
    const eip_status_t status = eip_pool2d_check(p, input, output);
    if (status != EIP_OK) {
        return status;
    }
    const int32_t ch = p->channels, row = p->in_w * ch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const eip_pool_window_t w = eip_pool_window(p, oy, ox);
                if (w.y1 <= w.y0 || w.x1 <= w.x0) {
                    return EIP_ERR_BAD_PARAM;   /* a window wholly in the padding, as the reference */
                }
                /* rows of the whole input width follow one another in memory: one run of cells */
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0), whole = w.x1 - w.x0 == p->in_w;
                const int32_t runs = whole ? 1 : w.y1 - w.y0, cols = whole ? count : w.x1 - w.x0;
                const int8_t *cells = in + w.y0 * row + w.x0 * ch;
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * ch;
                for (int32_t c = 0; c < ch;) {
                    const int32_t n = ch - c >= 8 ? 8 : ch - c >= 4 ? 4 : 1;
                    int32_t sum[8] = {0};
                    for (int32_t y = 0; y < runs; ++y) {
                        const int8_t *src = cells + y * row + c;
                        if (n == 8) {
                            add_cells(src, ch, cols, 2, sum);
                        } else if (n == 4) {
                            add_cells(src, ch, cols, 1, sum);
                        } else {
                            for (int32_t x = 0; x < cols; ++x) {
                                sum[0] += src[x * ch];
                            }
                        }
                    }
                    for (int32_t i = 0; i < n; ++i, ++c) {
                        out[c] = (int8_t)eip_clamp_i32(mean(sum[i], count), p->act_min, p->act_max);
                    }
                }
            }
        }
    }
    return EIP_OK;
}
