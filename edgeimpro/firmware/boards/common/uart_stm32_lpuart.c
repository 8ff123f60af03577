/*
 * STM32L4+ LPUART (RM0432): CR1 +0x00, BRR +0x0C, ISR +0x1C, ICR +0x20, RDR +0x24, TDR +0x28.
 * BRR = 256 x fck / baud; the 8-byte receive FIFO is enabled as a margin against overruns.
 */
#include "eip_board.h"

#define LPUART_CR1 (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x00u))
#define LPUART_BRR (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x0Cu))
#define LPUART_ISR (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x1Cu))
#define LPUART_ICR (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x20u))
#define LPUART_RDR (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x24u))
#define LPUART_TDR (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x28u))
#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_FIFOEN (1u << 29)
#define ISR_ERRORS 0x0Fu   /* PE, FE, NE, ORE */
#define ISR_RXFNE (1u << 5)
#define ISR_TC (1u << 6)
#define ISR_TXFNF (1u << 7)

void eip_uart_init(uint32_t kernel_clock_hz, uint32_t baud)
{
    LPUART_CR1 = 0;
    /* round(256 x clock / baud) in 32 bits, as (clock / baud) x 256 + round((clock % baud) x 256 / baud):
       (clock % baud) x 256 < 2^32 for any baud the _Static_assert of the board allows, and a 64-bit division
       would link libgcc's (0.7 KiB) */
    LPUART_BRR = kernel_clock_hz / baud * 256u + ((kernel_clock_hz % baud) * 256u + baud / 2u) / baud;
    LPUART_CR1 = CR1_FIFOEN | CR1_TE | CR1_RE;   /* FIFOEN may only be written while UE = 0 */
    LPUART_CR1 |= CR1_UE;
}

void eip_uart_write(const uint8_t *data, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t spins = 0;
        while (!(LPUART_ISR & ISR_TXFNF)) {
            if (++spins == EIP_UART_WAIT_SPINS) {
                return;   /* never empties: the UART is not clocked (a fault at boot); drop the rest */
            }
        }
        LPUART_TDR = data[i];
    }
}

void eip_uart_flush(void)
{
    /* bounded: a UART that was never clocked reads 0 and must not stop the reset */
    for (uint32_t spins = 0; spins < EIP_UART_WAIT_SPINS && !(LPUART_ISR & ISR_TC); spins++) {
    }
}

int eip_uart_read(uint8_t *byte)
{
    uint32_t isr;
    while (!((isr = LPUART_ISR) & (ISR_RXFNE | ISR_ERRORS))) {
    }
    int error = (isr & ISR_ERRORS) != 0;
    if (error) {
        LPUART_ICR = ISR_ERRORS;
        if (!(isr & ISR_RXFNE)) {
            *byte = 0xFF;   /* no byte with the error: a value that cannot end a frame */
            return 1;
        }
    }
    *byte = (uint8_t)LPUART_RDR;
    return error;
}
