/*
 * Arm MPS2/MPS3 FPGA boards as QEMU models them (mps2-an386, mps2-an500, mps3-an547): no clock tree to
 * set up, a CMSDK UART clocked by the system clock. Board facts come from eip_board_config.h.
 */
#include "eip_board.h"

uint32_t eip_board_clock_hz = EIP_BOARD_CLOCK_HZ;   /* fixed: QEMU models no clock tree */

void eip_board_init(void)
{
    eip_uart_init(EIP_BOARD_CLOCK_HZ, EIP_BOARD_UART_BAUD);
    eip_counter_init();
}
