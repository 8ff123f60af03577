/*
 * Bare-metal runner for tests/test_dsp_kernels.py: reads kernel calls from cases.bin through Arm
 * semihosting (QEMU -semihosting-config target=native, files relative to QEMU's working folder), runs the
 * CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED kernels the firmware build would link, and writes every
 * call's status and output to results.bin. Linked with boards/common/startup.c and fatal.c.
 *
 * cases.bin (little-endian u32 words): "EIPQ", case count, then per case
 *   kernel (0 conv2d, 1 depthwise_conv2d, 2 fully_connected), scalar count, scalars (the struct's int32
 *   members before its multiplier and shift pointers), channel count, multipliers, shifts,
 *   input bytes, filter bytes, bias count (0: NULL), bias, output bytes
 * where "N bytes" is a u32 length followed by the bytes padded to a whole word.
 * results.bin: per case, i32 status, then the output bytes padded to a whole word.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eip_board.h"
#include "eip_kernels.h"

#define SYS_OPEN 0x01u
#define SYS_CLOSE 0x02u
#define SYS_WRITE 0x05u
#define SYS_READ 0x06u
#define SYS_FLEN 0x0Cu
#define MODE_RB 1u
#define MODE_WB 5u

enum { CASES_MAX_BYTES = 3 << 20, OUTPUT_MAX_BYTES = 256 << 10 };

static uint32_t cases[CASES_MAX_BYTES / 4];
static int8_t output[OUTPUT_MAX_BYTES];

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

static void write_file(uint32_t handle, const void *data, uint32_t n)
{
    const uint32_t args[3] = {handle, (uint32_t)(uintptr_t)data, n};
    semihost(SYS_WRITE, args);
}

typedef struct {
    const uint32_t *pos;
} reader_t;

static uint32_t next(reader_t *r)
{
    return *r->pos++;
}

/* A length-prefixed byte block; *n gets its length. */
static const void *block(reader_t *r, uint32_t *n)
{
    *n = next(r);
    const void *p = r->pos;
    r->pos += (*n + 3) / 4;
    return p;
}

static void fill_struct(void *s, size_t scalars_size, reader_t *r, const int32_t **multiplier,
                        const int32_t **shift)
{
    const uint32_t count = next(r);
    if (count * 4 != scalars_size) {
        eip_board_fatal(2);
    }
    memcpy(s, r->pos, scalars_size);
    r->pos += count;
    const uint32_t channels = next(r);
    *multiplier = (const int32_t *)r->pos;
    *shift = (const int32_t *)r->pos + channels;
    r->pos += 2 * channels;
}

static int32_t run_case(reader_t *r, uint32_t *out_n)
{
    const uint32_t kernel = next(r);
    eip_conv2d_params_t conv;
    eip_depthwise_conv2d_params_t dw;
    eip_fully_connected_params_t fc;
    if (kernel == 0) {
        fill_struct(&conv, offsetof(eip_conv2d_params_t, multiplier), r, &conv.multiplier, &conv.shift);
    } else if (kernel == 1) {
        fill_struct(&dw, offsetof(eip_depthwise_conv2d_params_t, multiplier), r, &dw.multiplier, &dw.shift);
    } else if (kernel == 2) {
        fill_struct(&fc, offsetof(eip_fully_connected_params_t, multiplier), r, &fc.multiplier, &fc.shift);
    } else {
        eip_board_fatal(3);
    }
    uint32_t n;
    const int8_t *input = block(r, &n);
    const int8_t *filter = block(r, &n);
    const uint32_t bias_count = next(r);
    const int32_t *bias = bias_count ? (const int32_t *)r->pos : 0;
    r->pos += bias_count;
    *out_n = next(r);
    if (*out_n > OUTPUT_MAX_BYTES) {
        eip_board_fatal(4);
    }
    memset(output, 0x5A, *out_n);
    if (kernel == 0) {
        return eip_conv2d(&conv, input, filter, bias, output);
    }
    if (kernel == 1) {
        return eip_depthwise_conv2d(&dw, input, filter, bias, output);
    }
    return eip_fully_connected(&fc, input, filter, bias, output);
}

int main(void)
{
    const uint32_t in = open_file("cases.bin", MODE_RB);
    const uint32_t flen_args[1] = {in};
    const uint32_t size = semihost(SYS_FLEN, flen_args);
    if (in == 0xFFFFFFFFu || size > CASES_MAX_BYTES) {
        eip_board_fatal(5);
    }
    const uint32_t read_args[3] = {in, (uint32_t)(uintptr_t)cases, size};
    if (semihost(SYS_READ, read_args) != 0) {
        eip_board_fatal(6);
    }
    semihost(SYS_CLOSE, flen_args);
    reader_t r = {cases};
    if (next(&r) != 0x51504945u) { /* "EIPQ" */
        eip_board_fatal(7);
    }
    const uint32_t count = next(&r);
    const uint32_t out = open_file("results.bin", MODE_WB);
    for (uint32_t i = 0; i < count; ++i) {
        uint32_t n;
        const int32_t status = run_case(&r, &n);
        write_file(out, &status, 4);
        write_file(out, output, (n + 3) & ~3u);
    }
    const uint32_t close_args[1] = {out};
    semihost(SYS_CLOSE, close_args);
    return 0;
}
