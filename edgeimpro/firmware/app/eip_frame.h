/*
 * Link frames (docs/protocol.md): COBS(header | payload | CRC-32 LE) then a 0x00 delimiter.
 * The receiver decodes byte by byte into one buffer; the sender streams (no transmit buffer).
 * Both halves compile for the host too (the decoder is fuzzed there under ASan/UBSan).
 */
#ifndef EIP_FRAME_H
#define EIP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "eip_link_protocol.h"

/* A decoded, CRC-checked frame; payload points into the receiver's buffer until the next byte is pushed. */
typedef struct {
    uint8_t type;
    uint16_t seq;
    uint16_t length;
    const uint8_t *payload;
} eip_frame_t;

typedef struct {
    uint8_t *buf;
    uint32_t cap;       /* header + max payload + CRC */
    uint32_t len;       /* decoded bytes stored so far */
    uint8_t left;       /* data bytes left in the current COBS block */
    uint8_t code;       /* code byte of the current block; 0 before the first */
    uint8_t flags;      /* EIP_RX_F_* seen during this frame */
} eip_rx_t;

enum {
    EIP_RX_F_OVERFLOW = 1u << 0,
    EIP_RX_F_UART = 1u << 1,
};

/* eip_rx_push results besides a positive eip_link_error_t */
#define EIP_RX_NONE 0
#define EIP_RX_FRAME (-1)

void eip_rx_init(eip_rx_t *rx, uint8_t *buf, uint32_t cap);

/*
 * Feeds one received byte. Returns EIP_RX_NONE while a frame is in progress (or for an empty frame),
 * EIP_RX_FRAME with *frame filled when a valid frame ended, or an eip_link_error_t for a bad one; *seq then
 * holds the frame's sequence number if its CRC was good, else EIP_LINK_SEQ_UNSOLICITED.
 */
int eip_rx_push(eip_rx_t *rx, uint8_t byte, eip_frame_t *frame, uint16_t *seq);

/* Marks the frame in progress as damaged (UART overrun, framing or noise error on one of its bytes). */
void eip_rx_mark_uart_error(eip_rx_t *rx);

typedef void (*eip_write_fn)(const uint8_t *data, uint32_t n, void *ctx);

typedef struct {
    eip_write_fn write;
    void *ctx;
    uint32_t crc;
    uint8_t n;           /* bytes pending in block[1..n] */
    uint8_t block[255];  /* block[0] holds the code byte */
} eip_tx_t;

/* Starts a frame; `length` is the exact payload length that eip_tx_data will receive. */
void eip_tx_begin(eip_tx_t *tx, eip_write_fn write, void *ctx, uint8_t type, uint16_t seq, uint16_t length);
void eip_tx_data(eip_tx_t *tx, const void *data, uint32_t n);
void eip_tx_u8(eip_tx_t *tx, uint8_t v);
void eip_tx_u16(eip_tx_t *tx, uint16_t v);
void eip_tx_u32(eip_tx_t *tx, uint32_t v);
void eip_tx_u64(eip_tx_t *tx, uint64_t v);
/* Appends the CRC and the delimiter and flushes. */
void eip_tx_end(eip_tx_t *tx);

#endif /* EIP_FRAME_H */
