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

/*
 * ticks * 1e9 / EIP_BOARD_CLOCK_HZ without libgcc's 64-bit division (__udivmoddi4, 0.7 KiB of the runtime code
 * bench reports): (ticks * ((1e9 << NS_SHIFT) / clock)) >> NS_SHIFT where that quotient is whole (QEMU's
 * mps2 at 25 MHz: 40 ns a tick; mps3 at 32 MHz: 125 / 4 ns), else a bitwise long division (stm32f405 at
 * 168 MHz; it runs when a count is reported, never inside the counted span).
 */
#define NS_EXACT(s) ((1000000000ull << (s)) % EIP_BOARD_CLOCK_HZ == 0)
#define NS_SHIFT (NS_EXACT(0) ? 0 : NS_EXACT(1) ? 1 : NS_EXACT(2) ? 2 : NS_EXACT(3) ? 3 : NS_EXACT(4) ? 4 : \
                  NS_EXACT(5) ? 5 : NS_EXACT(6) ? 6 : NS_EXACT(7) ? 7 : NS_EXACT(8) ? 8 : NS_EXACT(9) ? 9 : -1)

uint64_t eip_counter_to_count(uint64_t ticks)
{
#if NS_SHIFT >= 0
    return (ticks * ((1000000000ull << NS_SHIFT) / EIP_BOARD_CLOCK_HZ)) >> NS_SHIFT;
#else
    uint64_t n = ticks * 1000000000ull, q = 0, r = 0;
    for (int bit = 63; bit >= 0; bit--) {
        r = (r << 1) | ((n >> bit) & 1u);
        if (r >= EIP_BOARD_CLOCK_HZ) {
            r -= EIP_BOARD_CLOCK_HZ;
            q |= 1ull << bit;
        }
    }
    return q;
#endif
}
