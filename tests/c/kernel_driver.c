/*
 * Test driver for the runtime kernels: runs a batch of kernel calls described in a binary file and
 * writes every call's status and output buffers to another file. Used by tests/test_kernels.py for the
 * plain build and for the -fsanitize=address,undefined build (no LD_PRELOAD needed, unlike a .so).
 *
 * Input (little-endian, host layout): u32 magic "EIPK", u32 case count, then per case
 *   u32 name length, name       kernel entry point ("eip_conv2d") or primitive ("srdhm")
 *   u32 params size, params     the params struct as laid out by the host compiler, pointers zeroed
 *   u32 array count, arrays     each: u32 offset of a pointer member, u32 byte size, bytes
 *   u32 buffer count, buffers   each: u32 kind (0 input, 1 output, 2 NULL, 3 output in place of buffer 0),
 *                               u32 byte size, bytes if input
 * The last buffer is the output (for concatenation the others are the inputs array). Every buffer and
 * array gets its own exact-size allocation so that the sanitizer sees any out-of-bounds access.
 * Output: per case i32 status, then the bytes of every output buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eip_kernels.h"
#include "fixedpoint.h"

enum { MAX_BUFFERS = 64, STATUS_PARAMS_SIZE = 1000, STATUS_UNKNOWN_KERNEL = 1001, STATUS_BAD_BUFFERS = 1002 };
enum { BUF_INPUT = 0, BUF_OUTPUT = 1, BUF_NULL = 2, BUF_IN_PLACE = 3 };

typedef struct {
    void *data[MAX_BUFFERS];
    uint32_t size[MAX_BUFFERS];
    uint32_t kind[MAX_BUFFERS];
    uint32_t count;
} buffers_t;

typedef int32_t (*kernel_fn)(const void *params, const buffers_t *b);

#define IN8(i) ((const int8_t *)b->data[i])
#define IN32(i) ((const int32_t *)b->data[i])
#define OUT8 ((int8_t *)b->data[b->count - 1])

static int32_t run_conv2d(const void *p, const buffers_t *b)
{
    return b->count != 4 ? STATUS_BAD_BUFFERS : eip_conv2d(p, IN8(0), IN8(1), IN32(2), OUT8);
}
static int32_t run_depthwise_conv2d(const void *p, const buffers_t *b)
{
    return b->count != 4 ? STATUS_BAD_BUFFERS : eip_depthwise_conv2d(p, IN8(0), IN8(1), IN32(2), OUT8);
}
static int32_t run_fully_connected(const void *p, const buffers_t *b)
{
    return b->count != 4 ? STATUS_BAD_BUFFERS : eip_fully_connected(p, IN8(0), IN8(1), IN32(2), OUT8);
}
static int32_t run_max_pool2d(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_max_pool2d(p, IN8(0), OUT8);
}
static int32_t run_average_pool2d(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_average_pool2d(p, IN8(0), OUT8);
}
static int32_t run_add(const void *p, const buffers_t *b)
{
    return b->count != 3 ? STATUS_BAD_BUFFERS : eip_add(p, IN8(0), IN8(1), OUT8);
}
static int32_t run_mul(const void *p, const buffers_t *b)
{
    return b->count != 3 ? STATUS_BAD_BUFFERS : eip_mul(p, IN8(0), IN8(1), OUT8);
}
static int32_t run_mean(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_mean(p, IN8(0), OUT8);
}
static int32_t run_softmax(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_softmax(p, IN8(0), OUT8);
}
static int32_t run_logistic(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_logistic(p, IN8(0), OUT8);
}
static int32_t run_tanh(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_tanh(p, IN8(0), OUT8);
}
static int32_t run_hard_swish(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_hard_swish(p, IN8(0), OUT8);
}
static int32_t run_leaky_relu(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_leaky_relu(p, IN8(0), OUT8);
}
static int32_t run_relu(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_relu(p, IN8(0), OUT8);
}
static int32_t run_relu6(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_relu6(p, IN8(0), OUT8);
}
static int32_t run_pad(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_pad(p, IN8(0), OUT8);
}
static int32_t run_quantize(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_quantize(p, IN8(0), OUT8);
}
static int32_t run_reshape(const void *p, const buffers_t *b)
{
    return b->count != 2 ? STATUS_BAD_BUFFERS : eip_reshape(p, IN8(0), OUT8);
}
static int32_t run_concatenation(const void *p, const buffers_t *b)
{
    const int8_t *inputs[MAX_BUFFERS];
    for (uint32_t i = 0; i + 1 < b->count; ++i) {
        inputs[i] = IN8(i);
    }
    return b->count < 2 ? STATUS_BAD_BUFFERS : eip_concatenation(p, inputs, OUT8);
}

/* Primitives: elementwise over int32 vectors; the last buffer receives int32 results. */
static uint32_t count32(const buffers_t *b) { return b->size[b->count - 1] / 4; }
#define PRIM2(name, expr)                                                          \
    static int32_t run_##name(const void *p, const buffers_t *b)                   \
    {                                                                              \
        (void)p;                                                                   \
        if (b->count != 3) return STATUS_BAD_BUFFERS;                              \
        for (uint32_t i = 0; i < count32(b); ++i) {                                \
            const int32_t x = IN32(0)[i], y = IN32(1)[i];                          \
            ((int32_t *)b->data[2])[i] = (expr);                                   \
        }                                                                          \
        return EIP_OK;                                                             \
    }
PRIM2(srdhm, eip_srdhm(x, y))
PRIM2(srdhm16, eip_srdhm16(x, y))
PRIM2(rdbpot, eip_rdbpot(x, y))
PRIM2(saturating_shl, eip_saturating_shl(x, y))
PRIM2(rounding_half_sum, eip_rounding_half_sum(x, y))
PRIM2(exp_on_negative, eip_exp_on_negative(x, y))
PRIM2(logistic_fp, eip_logistic_fp(x, y))
PRIM2(tanh_fp, eip_tanh_fp(x, y))
PRIM2(exp_on_interval, eip_exp_on_interval(x + 0 * y))
PRIM2(one_over_one_plus, eip_one_over_one_plus(x + 0 * y))
PRIM2(one_minus_over_one_plus, eip_one_minus_over_one_plus(x + 0 * y))

static int32_t run_mbqm(const void *p, const buffers_t *b)
{
    (void)p;
    if (b->count != 4) {
        return STATUS_BAD_BUFFERS;
    }
    for (uint32_t i = 0; i < count32(b); ++i) {
        ((int32_t *)b->data[3])[i] = eip_mbqm(IN32(0)[i], IN32(1)[i], IN32(2)[i]);
    }
    return EIP_OK;
}

/* Writes every status string, NUL-separated, into the output buffer. */
static int32_t run_status_strings(const void *p, const buffers_t *b)
{
    (void)p;
    char *out = (char *)b->data[b->count - 1];
    uint32_t used = 0;
    for (int s = 0; s <= (int)EIP_STATUS_COUNT; ++s) {
        const char *text = eip_status_str((eip_status_t)s);
        const uint32_t n = (uint32_t)strlen(text) + 1;
        if (used + n > b->size[b->count - 1]) {
            return STATUS_BAD_BUFFERS;
        }
        memcpy(out + used, text, n);
        used += n;
    }
    return EIP_OK;
}

typedef struct {
    const char *name;
    kernel_fn fn;
    uint32_t params_size; /* 0: no params struct */
} entry_t;

static const entry_t ENTRIES[] = {
    {"eip_conv2d", run_conv2d, sizeof(eip_conv2d_params_t)},
    {"eip_depthwise_conv2d", run_depthwise_conv2d, sizeof(eip_depthwise_conv2d_params_t)},
    {"eip_fully_connected", run_fully_connected, sizeof(eip_fully_connected_params_t)},
    {"eip_max_pool2d", run_max_pool2d, sizeof(eip_pool2d_params_t)},
    {"eip_average_pool2d", run_average_pool2d, sizeof(eip_pool2d_params_t)},
    {"eip_add", run_add, sizeof(eip_add_params_t)},
    {"eip_mul", run_mul, sizeof(eip_mul_params_t)},
    {"eip_mean", run_mean, sizeof(eip_mean_params_t)},
    {"eip_softmax", run_softmax, sizeof(eip_softmax_params_t)},
    {"eip_logistic", run_logistic, sizeof(eip_logistic_params_t)},
    {"eip_tanh", run_tanh, sizeof(eip_logistic_params_t)},
    {"eip_hard_swish", run_hard_swish, sizeof(eip_hard_swish_params_t)},
    {"eip_leaky_relu", run_leaky_relu, sizeof(eip_leaky_relu_params_t)},
    {"eip_relu", run_relu, sizeof(eip_relu_params_t)},
    {"eip_relu6", run_relu6, sizeof(eip_relu6_params_t)},
    {"eip_pad", run_pad, sizeof(eip_pad_params_t)},
    {"eip_concatenation", run_concatenation, sizeof(eip_concatenation_params_t)},
    {"eip_quantize", run_quantize, sizeof(eip_quantize_params_t)},
    {"eip_reshape", run_reshape, sizeof(eip_reshape_params_t)},
    {"srdhm", run_srdhm, 0},
    {"srdhm16", run_srdhm16, 0},
    {"rdbpot", run_rdbpot, 0},
    {"mbqm", run_mbqm, 0},
    {"saturating_shl", run_saturating_shl, 0},
    {"rounding_half_sum", run_rounding_half_sum, 0},
    {"exp_on_interval", run_exp_on_interval, 0},
    {"exp_on_negative", run_exp_on_negative, 0},
    {"one_over_one_plus", run_one_over_one_plus, 0},
    {"one_minus_over_one_plus", run_one_minus_over_one_plus, 0},
    {"logistic_fp", run_logistic_fp, 0},
    {"tanh_fp", run_tanh_fp, 0},
    {"status_strings", run_status_strings, 0},
};

static int read_exact(FILE *f, void *dst, uint32_t n)
{
    return n == 0 || fread(dst, 1, n, f) == n;
}

static int read_u32(FILE *f, uint32_t *v)
{
    return read_exact(f, v, 4);
}

/* malloc(n) that never returns a zero-size block (some libcs return NULL for 0). */
static void *alloc(uint32_t n)
{
    return malloc(n ? n : 1);
}

static int run_case(FILE *in, FILE *out)
{
    uint32_t name_len = 0, params_size = 0, n_arrays = 0;
    char name[64] = {0};
    if (!read_u32(in, &name_len) || name_len >= sizeof name || !read_exact(in, name, name_len)) {
        return 0;
    }
    if (!read_u32(in, &params_size)) {
        return 0;
    }
    void *params = alloc(params_size);
    void *arrays[MAX_BUFFERS] = {0};
    buffers_t b = {{0}, {0}, {0}, 0};
    int ok = read_exact(in, params, params_size) && read_u32(in, &n_arrays) && n_arrays <= MAX_BUFFERS;
    for (uint32_t i = 0; ok && i < n_arrays; ++i) {
        uint32_t offset, size;
        ok = read_u32(in, &offset) && read_u32(in, &size) && offset + sizeof(void *) <= params_size;
        if (ok) {
            arrays[i] = alloc(size);
            ok = read_exact(in, arrays[i], size);
            memcpy((char *)params + offset, &arrays[i], sizeof(void *));
        }
    }
    ok = ok && read_u32(in, &b.count) && b.count <= MAX_BUFFERS;
    for (uint32_t i = 0; ok && i < b.count; ++i) {
        ok = read_u32(in, &b.kind[i]) && read_u32(in, &b.size[i]);
        if (ok && b.kind[i] == BUF_IN_PLACE) {
            ok = i > 0 && b.kind[0] == BUF_INPUT && b.size[0] == b.size[i];
            b.data[i] = ok ? b.data[0] : 0;
        } else if (ok && b.kind[i] != BUF_NULL) {
            b.data[i] = alloc(b.size[i]);
            if (b.kind[i] == BUF_INPUT) {
                ok = read_exact(in, b.data[i], b.size[i]);
            } else {
                memset(b.data[i], 0x5A, b.size[i]); /* not zero: an unwritten output shows */
            }
        }
    }
    if (ok) {
        int32_t status = STATUS_UNKNOWN_KERNEL;
        for (size_t e = 0; e < sizeof ENTRIES / sizeof ENTRIES[0]; ++e) {
            if (strcmp(ENTRIES[e].name, name) == 0) {
                status = ENTRIES[e].params_size != params_size ? STATUS_PARAMS_SIZE
                                                               : ENTRIES[e].fn(params_size ? params : 0, &b);
                break;
            }
        }
        ok = fwrite(&status, 4, 1, out) == 1;
        for (uint32_t i = 0; ok && i < b.count; ++i) {
            if ((b.kind[i] == BUF_OUTPUT || b.kind[i] == BUF_IN_PLACE) && b.size[i] > 0) {
                ok = fwrite(b.data[i], 1, b.size[i], out) == b.size[i];
            }
        }
    }
    for (uint32_t i = 0; i < b.count; ++i) {
        if (b.kind[i] != BUF_IN_PLACE) {
            free(b.data[i]);
        }
    }
    for (uint32_t i = 0; i < n_arrays && i < MAX_BUFFERS; ++i) {
        free(arrays[i]);
    }
    free(params);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CASES_IN RESULTS_OUT\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (in == 0 || out == 0) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    uint32_t magic = 0, count = 0;
    if (!read_u32(in, &magic) || magic != 0x4B504945u || !read_u32(in, &count)) {
        fprintf(stderr, "%s is not a kernel case file\n", argv[1]);
        return 2;
    }
    for (uint32_t c = 0; c < count; ++c) {
        if (!run_case(in, out)) {
            fprintf(stderr, "case %u is truncated or malformed\n", (unsigned)c);
            return 3;
        }
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : 3;
}
