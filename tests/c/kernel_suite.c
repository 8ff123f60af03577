/*
 * The kernel test suite's one driver: runs a batch of kernel calls read from a vector file and writes each
 * call's status and output buffers, for whichever kernel set it was linked with (reference, Arm DSP, ...).
 * Built for the host (plain and -fsanitize=address,undefined: every buffer is its own exact-size
 * allocation) and, with -DEIP_SUITE_SEMIHOSTING, as bare-metal firmware for the emulated boards (files
 * through Arm semihosting, relative to QEMU's working folder). tests/kernel_suite.py writes the vectors
 * and generates kernel_suite_ops.h from the op registry: one entry per kernel that fills its params struct
 * member by member and calls the kernel by its calling convention.
 *
 * Vectors (little-endian u32 words): "EIPV", case count, then per case
 *   name          u32 length, bytes padded to a word: a kernel ("eip_conv2d") or a primitive ("srdhm")
 *   params        u32 word count, words: the params record in struct order (scalar: 1 word, array:
 *                 EIP_MAX_DIMS words, pointer: u32 count then the values, scratch: its size in bytes,
 *                 0 for NULL)
 *   buffers       u32 count, each: u32 kind (0 input, 1 output, 2 NULL, 3 output in place of buffer 0,
 *                 4 output streamed over buffer 0), u32 byte size, then the bytes padded to a word for an
 *                 input, or u32 lag for a streamed output: one block holds both, the output at its start
 *                 and the input `lag` bytes in, as the memory plan places a streamed layer (ops/stream.py)
 * Results: per case i32 status, then the bytes of every output buffer, each padded to a word.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eip_kernels.h"
#include "fixedpoint.h"

enum { MAX_BUFFERS = 64, STATUS_PARAMS = 1000, STATUS_UNKNOWN_KERNEL = 1001, STATUS_BAD_BUFFERS = 1002 };
enum { BUF_INPUT = 0, BUF_OUTPUT = 1, BUF_NULL = 2, BUF_IN_PLACE = 3, BUF_STREAMED = 4 };
#define MAGIC 0x56504945u /* "EIPV" */

typedef struct {
    const uint32_t *pos;
    const uint32_t *end;
    int ok;
} reader_t;

typedef struct {
    void *data[MAX_BUFFERS];
    uint32_t size[MAX_BUFFERS];
    uint32_t kind[MAX_BUFFERS];
    uint32_t count;
} buffers_t;

static uint32_t next(reader_t *r)
{
    if (r->pos >= r->end) {
        r->ok = 0;
        return 0;
    }
    return *r->pos++;
}

/* ---- memory: exact-size heap blocks on the host (the sanitizer sees any overrun), a pool on a board --- */
#ifdef EIP_SUITE_SEMIHOSTING
enum { CASES_MAX_BYTES = 2 << 20, POOL_BYTES = 1 << 20 };
static uint32_t cases_words[CASES_MAX_BYTES / 4];
static uint32_t pool[POOL_BYTES / 4] __attribute__((aligned(16)));
static uint32_t pool_used;

static void *suite_alloc(uint32_t n)
{
    const uint32_t words = (n + 15) / 16 * 4;   /* 16-byte blocks, as the arena plan aligns its blocks */
    if (pool_used + words > POOL_BYTES / 4) {
        return 0;
    }
    void *p = &pool[pool_used];
    pool_used += words;
    return p;
}
static void suite_free_all(void) { pool_used = 0; }
#define SUITE_FREE(p) ((void)(p))
#else
#include <stdio.h>
#include <stdlib.h>
static void *suite_alloc(uint32_t n) { return malloc(n ? n : 1); }
static void suite_free_all(void) {}
#define SUITE_FREE(p) free(p)
#endif

/* The values of a pointer member: a count, then that many words, copied into their own block; no values
 * give NULL (an optional member left out, as CONV's folded_bias may be). */
static const int32_t *take_array(reader_t *r, void **blocks, uint32_t *n_blocks)
{
    const uint32_t count = next(r);
    if (!r->ok || count > (uint32_t)(r->end - r->pos) || *n_blocks >= MAX_BUFFERS) {
        r->ok = 0;
        return 0;
    }
    if (count == 0) {
        return 0;
    }
    int32_t *a = suite_alloc(count * 4);
    if (a == 0) {
        r->ok = 0;
        return 0;
    }
    memcpy(a, r->pos, count * 4);
    r->pos += count;
    blocks[(*n_blocks)++] = a;
    return a;
}

/* A scratch member: its size, then a block of that many bytes (NULL for 0), filled with a pattern that is
 * not zero, since a kernel must not read scratch it has not written. */
static int8_t *take_scratch(reader_t *r, void **blocks, uint32_t *n_blocks)
{
    const uint32_t bytes = next(r);
    if (!r->ok || bytes == 0) {
        return 0;
    }
    if (*n_blocks >= MAX_BUFFERS) {
        r->ok = 0;
        return 0;
    }
    int8_t *s = suite_alloc(bytes);
    if (s == 0) {
        r->ok = 0;
        return 0;
    }
    memset(s, 0x5A, bytes);
    blocks[(*n_blocks)++] = s;
    return s;
}

#define IN8(i) ((const int8_t *)b->data[i])
#define IN32(i) ((const int32_t *)b->data[i])
#define OUT8 ((int8_t *)b->data[b->count - 1])

typedef int32_t (*entry_fn)(reader_t *params, const buffers_t *b, void **blocks, uint32_t *n_blocks);

#include "kernel_suite_ops.h" /* generated: SUITE_KERNELS, one entry per registered kernel */

/* ---- primitives of fixedpoint.h: elementwise over int32 vectors, the last buffer gets the results ---- */
static uint32_t count32(const buffers_t *b) { return b->size[b->count - 1] / 4; }
#define PRIM2(name, expr)                                                                          \
    static int32_t prim_##name(reader_t *r, const buffers_t *b, void **blocks, uint32_t *n_blocks) \
    {                                                                                              \
        (void)r;                                                                                   \
        (void)blocks;                                                                              \
        (void)n_blocks;                                                                            \
        if (b->count != 3 || b->size[0] < b->size[2] || b->size[1] < b->size[2])                 \
            return STATUS_BAD_BUFFERS;                                                             \
        for (uint32_t i = 0; i < count32(b); ++i) {                                                \
            const int32_t x = IN32(0)[i], y = IN32(1)[i];                                          \
            ((int32_t *)b->data[2])[i] = (expr);                                                   \
        }                                                                                          \
        return EIP_OK;                                                                             \
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

static int32_t prim_mbqm(reader_t *r, const buffers_t *b, void **blocks, uint32_t *n_blocks)
{
    (void)r;
    (void)blocks;
    (void)n_blocks;
    if (b->count != 4 || b->size[0] < b->size[3] || b->size[1] < b->size[3] || b->size[2] < b->size[3]) {
        return STATUS_BAD_BUFFERS;
    }
    for (uint32_t i = 0; i < count32(b); ++i) {
        ((int32_t *)b->data[3])[i] = eip_mbqm(IN32(0)[i], IN32(1)[i], IN32(2)[i]);
    }
    return EIP_OK;
}

/* Every status string, NUL-separated, into the output buffer. */
static int32_t prim_status_strings(reader_t *r, const buffers_t *b, void **blocks, uint32_t *n_blocks)
{
    (void)r;
    (void)blocks;
    (void)n_blocks;
    if (b->count != 1 || b->data[0] == 0) {
        return STATUS_BAD_BUFFERS;
    }
    char *out = (char *)b->data[0];
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
    entry_fn fn;
} entry_t;

static const entry_t PRIMITIVES[] = {
    {"srdhm", prim_srdhm},
    {"srdhm16", prim_srdhm16},
    {"rdbpot", prim_rdbpot},
    {"mbqm", prim_mbqm},
    {"saturating_shl", prim_saturating_shl},
    {"rounding_half_sum", prim_rounding_half_sum},
    {"exp_on_interval", prim_exp_on_interval},
    {"exp_on_negative", prim_exp_on_negative},
    {"one_over_one_plus", prim_one_over_one_plus},
    {"one_minus_over_one_plus", prim_one_minus_over_one_plus},
    {"logistic_fp", prim_logistic_fp},
    {"tanh_fp", prim_tanh_fp},
    {"status_strings", prim_status_strings},
};

static entry_fn find_entry(const char *name, uint32_t len)
{
    for (size_t e = 0; e < sizeof SUITE_KERNELS / sizeof SUITE_KERNELS[0]; ++e) {
        if (strlen(SUITE_KERNELS[e].name) == len && memcmp(SUITE_KERNELS[e].name, name, len) == 0) {
            return SUITE_KERNELS[e].fn;
        }
    }
    for (size_t e = 0; e < sizeof PRIMITIVES / sizeof PRIMITIVES[0]; ++e) {
        if (strlen(PRIMITIVES[e].name) == len && memcmp(PRIMITIVES[e].name, name, len) == 0) {
            return PRIMITIVES[e].fn;
        }
    }
    return 0;
}

/* ---- output -------------------------------------------------------------------------------------------- */
typedef struct {
#ifdef EIP_SUITE_SEMIHOSTING
    uint32_t handle;
#else
    FILE *file;
#endif
    int ok;
} writer_t;

static void emit(writer_t *w, const void *data, uint32_t n);

static void emit_padded(writer_t *w, const void *data, uint32_t n)
{
    static const uint8_t zeros[4] = {0};
    emit(w, data, n);
    emit(w, zeros, (4 - n % 4) % 4);
}

/* One case: read it, run it, write its results. 0 when the vector file is malformed. */
static int run_case(reader_t *r, writer_t *w)
{
    const uint32_t name_len = next(r);
    const char *name = (const char *)r->pos;
    if (!r->ok || name_len > 4 * (uint32_t)(r->end - r->pos)) {
        return 0;
    }
    r->pos += (name_len + 3) / 4;
    const uint32_t n_params = next(r);
    if (!r->ok || n_params > (uint32_t)(r->end - r->pos)) {
        return 0;
    }
    reader_t params = {r->pos, r->pos + n_params, 1};
    r->pos += n_params;

    buffers_t b;
    memset(&b, 0, sizeof b);
    int8_t *streamed = 0;   /* the block of a streamed output (buffer 0 then lies inside it) */
    b.count = next(r);
    if (!r->ok || b.count > MAX_BUFFERS) {
        return 0;   /* malformed: nothing allocated yet */
    }
    int ok = 1;
    for (uint32_t i = 0; ok && i < b.count; ++i) {
        b.kind[i] = next(r);
        b.size[i] = next(r);
        ok = r->ok && b.kind[i] <= BUF_STREAMED;
        if (ok && b.kind[i] == BUF_IN_PLACE) {
            ok = i > 0 && b.kind[0] == BUF_INPUT && b.size[0] == b.size[i];
            b.data[i] = ok ? b.data[0] : 0;
        } else if (ok && b.kind[i] == BUF_STREAMED) {
            const uint32_t lag = next(r);
            ok = r->ok && i > 0 && b.kind[0] == BUF_INPUT && !streamed && lag % 4 == 0 && lag <= (1u << 24);
            const uint32_t total = ok ? (lag + b.size[0] > b.size[i] ? lag + b.size[0] : b.size[i]) : 0;
            int8_t *block = ok ? suite_alloc(total) : 0;
            ok = block != 0;
            if (ok) {   /* the input moves `lag` bytes into the block; the output starts at its first byte */
                memset(block, 0x5A, total);
                memcpy(block + lag, b.data[0], b.size[0]);
                SUITE_FREE(b.data[0]);
                b.data[0] = block + lag;
                b.data[i] = block;
                streamed = block;
            }
        } else if (ok && b.kind[i] != BUF_NULL) {
            b.data[i] = suite_alloc(b.size[i]);
            ok = b.data[i] != 0;
            if (ok && b.kind[i] == BUF_INPUT) {
                ok = b.size[i] <= 4 * (uint32_t)(r->end - r->pos);
                if (ok) {
                    memcpy(b.data[i], r->pos, b.size[i]);
                    r->pos += (b.size[i] + 3) / 4;
                }
            } else if (ok) {
                memset(b.data[i], 0x5A, b.size[i]); /* not zero: an unwritten output shows */
            }
        }
    }
    void *blocks[MAX_BUFFERS];
    uint32_t n_blocks = 0;
    if (ok) {
        const entry_fn fn = find_entry(name, name_len);
        int32_t status = fn == 0 ? STATUS_UNKNOWN_KERNEL : fn(&params, &b, blocks, &n_blocks);
        if (fn != 0 && (!params.ok || params.pos != params.end)) {
            status = STATUS_PARAMS; /* the vector's params do not fill the struct exactly */
        }
        emit(w, &status, 4);
        for (uint32_t i = 0; i < b.count; ++i) {
            if (b.kind[i] == BUF_OUTPUT || b.kind[i] == BUF_IN_PLACE || b.kind[i] == BUF_STREAMED) {
                emit_padded(w, b.data[i], b.size[i]);
            }
        }
    }
    for (uint32_t i = 0; i < b.count; ++i) {   /* entries never reached are still zero */
        if (b.kind[i] != BUF_IN_PLACE && b.data[i] != 0 && !(i == 0 && streamed != 0)) {
            SUITE_FREE(b.data[i]);
        }
    }
    for (uint32_t i = 0; i < n_blocks; ++i) {
        SUITE_FREE(blocks[i]);
    }
    suite_free_all();
    return ok && w->ok;
}

static int run_all(const uint32_t *words, uint32_t n_words, writer_t *w)
{
    reader_t r = {words, words + n_words, 1};
    if (next(&r) != MAGIC) {
        return 2;
    }
    const uint32_t count = next(&r);
    for (uint32_t c = 0; r.ok && c < count; ++c) {
        if (!run_case(&r, w)) {
            return 3;
        }
    }
    return r.ok && r.pos == r.end ? 0 : 3;
}

#ifdef EIP_SUITE_SEMIHOSTING
/* ---- bare metal: semihosting files, exit status through the board's exit path ---------------------------- */
#include "eip_board.h"

#define SYS_OPEN 0x01u
#define SYS_CLOSE 0x02u
#define SYS_WRITE 0x05u
#define SYS_READ 0x06u
#define SYS_FLEN 0x0Cu
#define MODE_RB 1u
#define MODE_WB 5u

void SysTick_Handler(void) {}

static uint32_t semihost(uint32_t op, const void *args)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = args;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static uint32_t open_file(const char *name, uint32_t mode)
{
    const uint32_t args[3] = {(uint32_t)(uintptr_t)name, mode, (uint32_t)strlen(name)};
    return semihost(SYS_OPEN, args);
}

static void emit(writer_t *w, const void *data, uint32_t n)
{
    const uint32_t args[3] = {w->handle, (uint32_t)(uintptr_t)data, n};
    if (n > 0 && semihost(SYS_WRITE, args) != 0) {
        w->ok = 0;
    }
}

int main(void)
{
    const uint32_t in = open_file("cases.bin", MODE_RB);
    const uint32_t handle_args[1] = {in};
    const uint32_t size = semihost(SYS_FLEN, handle_args);
    if (in == 0xFFFFFFFFu || size > CASES_MAX_BYTES || size % 4 != 0) {
        eip_board_fatal(5);
    }
    const uint32_t read_args[3] = {in, (uint32_t)(uintptr_t)cases_words, size};
    if (semihost(SYS_READ, read_args) != 0) {
        eip_board_fatal(6);
    }
    semihost(SYS_CLOSE, handle_args);
    writer_t w = {open_file("results.bin", MODE_WB), 1};
    const int rc = run_all(cases_words, size / 4, &w);
    const uint32_t close_args[1] = {w.handle};
    semihost(SYS_CLOSE, close_args);
    if (rc != 0) {
        eip_board_fatal((uint32_t)(10 + rc));
    }
    return 0;
}
#else
/* ---- host: CASES_IN RESULTS_OUT ------------------------------------------------------------------------ */
static void emit(writer_t *w, const void *data, uint32_t n)
{
    if (n > 0 && fwrite(data, 1, n, w->file) != n) {
        w->ok = 0;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CASES_IN RESULTS_OUT\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == 0) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 2;
    }
    fseek(in, 0, SEEK_END);
    const long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    uint32_t *words = malloc(size > 0 ? (size_t)size : 1);
    const int read_ok = words != 0 && size >= 8 && size % 4 == 0 && fread(words, 1, (size_t)size, in) == (size_t)size;
    fclose(in);
    if (!read_ok) {
        fprintf(stderr, "%s is not a kernel vector file\n", argv[1]);
        free(words);
        return 2;
    }
    FILE *out = fopen(argv[2], "wb");
    if (out == 0) {
        fprintf(stderr, "cannot open %s\n", argv[2]);
        free(words);
        return 2;
    }
    writer_t w = {out, 1};
    const int rc = run_all(words, (uint32_t)(size / 4), &w);
    free(words);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], rc == 2 ? "not a kernel vector file" : "truncated or malformed");
    }
    return fclose(out) == 0 && w.ok ? rc : 3;
}
#endif
