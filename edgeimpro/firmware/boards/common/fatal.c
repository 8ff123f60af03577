/* How a build stops for good: semihosting SYS_EXIT under QEMU (an exit code for tests), reset on hardware. */
#include "eip_board.h"

#if EIP_BOARD_BUILD_TARGET_QEMU
#define SYS_EXIT 0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR 0x20024u

void eip_board_fatal(uint32_t code)
{
    register uint32_t r0 __asm("r0") = SYS_EXIT;
    register uint32_t r1 __asm("r1") = code == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR;
    __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}
#else
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define AIRCR_VECTKEY (0x05FAu << 16)
#define AIRCR_SYSRESETREQ (1u << 2)

void eip_board_fatal(uint32_t code)
{
    (void)code;
    eip_uart_flush();   /* the ERROR FAULT frame's last bytes are still in the transmitter (a bounded wait) */
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = AIRCR_VECTKEY | AIRCR_SYSRESETREQ;
    __asm volatile("dsb" ::: "memory");
    for (;;) {
    }
}
#endif
