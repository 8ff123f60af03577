/* STM32F4 USART (RM0090): SR +0x00, DR +0x04, BRR +0x08, CR1 +0x0C; oversampling by 16. */
#include "eip_board.h"

#define USART_SR (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x00u))
#define USART_DR (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x04u))
#define USART_BRR (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x08u))
#define USART_CR1 (*(volatile uint32_t *)(EIP_BOARD_UART_BASE + 0x0Cu))
#define SR_ERRORS 0x0Fu   /* PE, FE, NF, ORE */
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_UE (1u << 13)

void eip_uart_init(uint32_t kernel_clock_hz, uint32_t baud)
{
    USART_CR1 = 0;
    USART_BRR = (kernel_clock_hz + baud / 2u) / baud;
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE;
}

void eip_uart_write(const uint8_t *data, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t spins = 0;
        while (!(USART_SR & SR_TXE)) {
            if (++spins == EIP_UART_WAIT_SPINS) {
                return;   /* never empties: the UART is not clocked (a fault at boot); drop the rest */
            }
        }
        USART_DR = data[i];
    }
}

void eip_uart_flush(void)
{
    /* bounded: a UART that was never clocked reads 0 and must not stop the reset */
    for (uint32_t spins = 0; spins < EIP_UART_WAIT_SPINS && !(USART_SR & SR_TC); spins++) {
    }
}

int eip_uart_read(uint8_t *byte)
{
    uint32_t sr;
    while (!((sr = USART_SR) & (SR_RXNE | SR_ERRORS))) {
    }
    *byte = (uint8_t)USART_DR;   /* reading SR then DR also clears the error flags */
    return (sr & SR_ERRORS) != 0;
}
