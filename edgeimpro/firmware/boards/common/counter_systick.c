/*
 * Instruction counter for QEMU: under -icount shift=0 one guest instruction is 1 ns of virtual time, so
 * SysTick on the processor clock ticks once per 1e9 / EIP_BOARD_CLOCK_HZ instructions, repeatably
 * (DESIGN.md §3). The 24-bit counter is extended to 64 bits by its wrap interrupt. QEMU's SysTick runs at
 * the machine's fixed clock (the registry's) whatever the guest writes to its stub RCC: hence
 * EIP_BOARD_CLOCK_HZ here, not eip_board_clock_hz.
 */
#include "eip_board.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CSR_ENABLE (1u << 0)
#define CSR_TICKINT (1u << 1)
#define CSR_CLKSOURCE_CPU (1u << 2)
#define RELOAD 0xFFFFFFu

static volatile uint32_t wraps;

void SysTick_Handler(void) { wraps++; }

void eip_counter_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = RELOAD;
    SYST_CVR = 0;
    wraps = 0;
    SYST_CSR = CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE_CPU;
}

/*
 * Called after the UART is enabled. Arming SysTick also wakes QEMU's main loop, which otherwise may sleep
 * about a second before it polls the serial socket for the now-enabled UART (a start-up race, measured).
 */
void eip_counter_init(void) { eip_counter_start(); }

uint64_t eip_counter_read(void)
{
    uint32_t w, v;
    do {
        w = wraps;
        v = SYST_CVR;
    } while (w != wraps);
    return ((uint64_t)w << 24) + (RELOAD - v);
}

uint64_t eip_counter_to_count(uint64_t ticks) { return ticks * 1000000000ull / EIP_BOARD_CLOCK_HZ; }
