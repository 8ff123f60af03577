/* Arm CMSDK APB UART (MPS2/MPS3 boards): DATA +0x0, STATE +0x4, CTRL +0x8, BAUDDIV +0x10. */
#include "eip_board.h"

#define UART_DATA (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x10u))
#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define STATE_RX_OVERRUN (1u << 3)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)

void eip_uart_init(uint32_t kernel_clock_hz, uint32_t baud)
{
    uint32_t div = kernel_clock_hz / baud;
    UART_BAUDDIV = div < 16u ? 16u : div;   /* below 16 the UART refuses to transmit */
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN;
}

void eip_uart_write(const uint8_t *data, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t spins = 0;
        while (UART_STATE & STATE_TX_FULL) {
            if (++spins == EIP_UART_WAIT_SPINS) {
                return;   /* never empties: the UART is not clocked (a fault at boot); drop the rest */
            }
        }
        UART_DATA = data[i];
    }
}

/* The CMSDK UART has no transmit-complete flag; QEMU's model sends at once. */
void eip_uart_flush(void) {}

int eip_uart_read(uint8_t *byte)
{
    uint32_t state;
    while (!((state = UART_STATE) & STATE_RX_FULL)) {
    }
    *byte = (uint8_t)UART_DATA;
    if (state & STATE_RX_OVERRUN) {
        UART_STATE = STATE_RX_OVERRUN;   /* write 1 to clear */
        return 1;
    }
    return 0;
}
