/* COBS framing with CRC-32: a streaming decoder into one buffer and a streaming encoder. */
#include "eip_frame.h"

#include "eip_crc32.h"

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void eip_rx_init(eip_rx_t *rx, uint8_t *buf, uint32_t cap)
{
    rx->buf = buf;
    rx->cap = cap;
    rx->len = 0;
    rx->left = 0;
    rx->code = 0;
    rx->flags = 0;
}

static void store(eip_rx_t *rx, uint8_t byte)
{
    if (rx->len < rx->cap) {
        rx->buf[rx->len++] = byte;
    } else {
        rx->flags |= EIP_RX_F_OVERFLOW;
    }
}

void eip_rx_mark_uart_error(eip_rx_t *rx) { rx->flags |= EIP_RX_F_UART; }

static int finish(eip_rx_t *rx, eip_frame_t *frame, uint16_t *seq)
{
    *seq = EIP_LINK_SEQ_UNSOLICITED;
    if (rx->flags & EIP_RX_F_UART) {
        return EIP_LINK_ERR_UART;
    }
    if (rx->flags & EIP_RX_F_OVERFLOW) {
        return EIP_LINK_ERR_TOO_LONG;
    }
    if (rx->left != 0) {   /* the last COBS block promised more bytes than arrived */
        return EIP_LINK_ERR_BAD_FRAMING;
    }
    if (rx->len < EIP_LINK_HEADER_BYTES + EIP_LINK_CRC_BYTES) {
        return EIP_LINK_ERR_TOO_SHORT;
    }
    uint32_t body = rx->len - EIP_LINK_CRC_BYTES;
    if (eip_crc32(0, rx->buf, body) != get_u32(rx->buf + body)) {
        return EIP_LINK_ERR_BAD_CRC;
    }
    *seq = get_u16(rx->buf + EIP_LINK_HDR_SEQ);
    if (rx->buf[EIP_LINK_HDR_VERSION] != EIP_LINK_VERSION) {
        return EIP_LINK_ERR_BAD_VERSION;
    }
    uint16_t length = get_u16(rx->buf + EIP_LINK_HDR_LENGTH);
    if ((uint32_t)length + EIP_LINK_HEADER_BYTES != body) {
        return EIP_LINK_ERR_BAD_LENGTH;
    }
    frame->type = rx->buf[EIP_LINK_HDR_TYPE];
    frame->seq = *seq;
    frame->length = length;
    frame->payload = rx->buf + EIP_LINK_HEADER_BYTES;
    return EIP_RX_FRAME;
}

int eip_rx_push(eip_rx_t *rx, uint8_t byte, eip_frame_t *frame, uint16_t *seq)
{
    if (byte == 0) {
        int result = EIP_RX_NONE;
        if (rx->code != 0 || rx->flags != 0) {   /* consecutive delimiters are an empty frame: ignored */
            result = finish(rx, frame, seq);
        }
        rx->len = 0;
        rx->left = 0;
        rx->code = 0;
        rx->flags = 0;
        return result;
    }
    if (rx->left == 0) {
        /* a code byte: the block before it (if any, and not a full 0xFF block) ended with an implied zero */
        if (rx->code != 0 && rx->code != 0xFF) {
            store(rx, 0);
        }
        rx->code = byte;
        rx->left = (uint8_t)(byte - 1);
    } else {
        store(rx, byte);
        rx->left--;
    }
    return EIP_RX_NONE;
}

/* ---- encoder ---- */

static void flush_block(eip_tx_t *tx)
{
    tx->block[0] = (uint8_t)(tx->n + 1);
    tx->write(tx->block, (uint32_t)tx->n + 1, tx->ctx);
    tx->n = 0;
}

static void put(eip_tx_t *tx, uint8_t byte)
{
    if (byte == 0) {
        flush_block(tx);
        return;
    }
    tx->block[++tx->n] = byte;
    if (tx->n == 254) {
        flush_block(tx);   /* a 0xFF block: no implied zero follows it */
    }
}

static void feed(eip_tx_t *tx, const uint8_t *p, uint32_t n)
{
    tx->crc = eip_crc32(tx->crc, p, n);
    for (uint32_t i = 0; i < n; i++) {
        put(tx, p[i]);
    }
}

void eip_tx_begin(eip_tx_t *tx, eip_write_fn write, void *ctx, uint8_t type, uint16_t seq, uint16_t length)
{
    tx->write = write;
    tx->ctx = ctx;
    tx->crc = 0;
    tx->n = 0;
    uint8_t header[EIP_LINK_HEADER_BYTES] = {
        EIP_LINK_VERSION, type, (uint8_t)seq, (uint8_t)(seq >> 8), (uint8_t)length, (uint8_t)(length >> 8),
    };
    feed(tx, header, sizeof header);
}

void eip_tx_data(eip_tx_t *tx, const void *data, uint32_t n) { feed(tx, (const uint8_t *)data, n); }

void eip_tx_u8(eip_tx_t *tx, uint8_t v) { eip_tx_data(tx, &v, 1); }

void eip_tx_u16(eip_tx_t *tx, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    eip_tx_data(tx, b, sizeof b);
}

void eip_tx_u32(eip_tx_t *tx, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    eip_tx_data(tx, b, sizeof b);
}

void eip_tx_u64(eip_tx_t *tx, uint64_t v)
{
    eip_tx_u32(tx, (uint32_t)v);
    eip_tx_u32(tx, (uint32_t)(v >> 32));
}

void eip_tx_end(eip_tx_t *tx)
{
    uint32_t crc = tx->crc;
    uint8_t b[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    feed(tx, b, sizeof b);
    flush_block(tx);
    static const uint8_t delimiter = 0;
    tx->write(&delimiter, 1, tx->ctx);
}
