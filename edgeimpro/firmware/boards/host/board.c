/*
 * The app on the host, for tests: stdin is the UART's receive line, stdout its transmit line, and end of
 * input ends the program. There is no counter (EIP_COUNT_NONE): results carry a zero count.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "eip_board.h"

uint32_t eip_board_clock_hz = EIP_BOARD_CLOCK_HZ;

void eip_board_init(void) { eip_uart_init(0, 0); }

void eip_uart_init(uint32_t kernel_clock_hz, uint32_t baud)
{
    (void)kernel_clock_hz;
    (void)baud;
}

void eip_uart_write(const uint8_t *data, uint32_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, data, n);
        if (w <= 0) {
            exit(3);
        }
        data += w;
        n -= (uint32_t)w;
    }
}

void eip_uart_flush(void) {}

int eip_uart_read(uint8_t *byte)
{
    ssize_t r = read(STDIN_FILENO, byte, 1);
    if (r != 1) {
        exit(0);   /* the host closed the line */
    }
    return 0;
}

void eip_counter_init(void) {}

void eip_counter_start(void) {}

uint64_t eip_counter_read(void) { return 0; }

uint64_t eip_counter_to_count(uint64_t ticks) { return ticks; }

void eip_board_fatal(uint32_t code) { exit(code == 0 ? 0 : 1); }
