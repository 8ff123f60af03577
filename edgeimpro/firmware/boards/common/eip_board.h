/*
 * What the app needs from a board: a UART, an instruction or cycle counter, and a way to stop on a fault.
 * Each board folder implements eip_board_init(); the drivers under boards/common/ implement the rest.
 * Board facts (name, core, clock, UART base, QEMU or hardware) come from the generated eip_board_config.h.
 */
#ifndef EIP_BOARD_H
#define EIP_BOARD_H

#include <stdint.h>

#include "eip_board_config.h"

/* Clocks, pins, UART, counter. Called once from main before anything else. */
void eip_board_init(void);

/* The core clock the chip runs at now, in Hz: the reset clock until the board's clock set-up changes it.
   INFO reports it and hosts turn cycles into ms with it; EIP_BOARD_CLOCK_HZ is the registry's target. */
extern uint32_t eip_board_clock_hz;

/* UART: blocking, polled. */
void eip_uart_init(uint32_t kernel_clock_hz, uint32_t baud);
void eip_uart_write(const uint8_t *data, uint32_t n);
/* Waits for one byte; returns 0, or non-zero if the UART flagged an overrun/framing/noise error with it. */
int eip_uart_read(uint8_t *byte);
/* Waits until the last byte written has left the transmitter (before a reset cuts it off). */
void eip_uart_flush(void);
/* Bound on every transmit wait: far longer than one byte at 9600 baud at any clock here, so it only ends a
   wait on a UART that was never clocked (a fault before eip_board_init) and the reset still happens. */
#define EIP_UART_WAIT_SPINS 1000000u

/* Counter: EIP_BOARD_COUNT_KIND says what it counts (instructions under QEMU -icount, cycles on hardware).
   eip_counter_read() is cheap (raw ticks since start); eip_counter_to_count() converts a tick span. */
void eip_counter_init(void);
void eip_counter_start(void);
uint64_t eip_counter_read(void);
uint64_t eip_counter_to_count(uint64_t ticks);

/* Ends the program after an unrecoverable fault: semihosting exit on QEMU, a system reset on hardware. */
void eip_board_fatal(uint32_t code) __attribute__((noreturn));

#endif /* EIP_BOARD_H */
