/*
 * Cycle counter for real hardware: DWT CYCCNT (32 bits), extended to 64 bits by sampling it in the
 * SysTick interrupt every 2^24 cycles, well before it can wrap twice.
 */
#include "eip_board.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define DWT_LAR_KEY 0xC5ACCE55u
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CSR_ENABLE (1u << 0)
#define CSR_TICKINT (1u << 1)
#define CSR_CLKSOURCE_CPU (1u << 2)

static volatile uint32_t high;
static volatile uint32_t last;

void SysTick_Handler(void)
{
    uint32_t now = DWT_CYCCNT;
    if (now < last) {
        high++;
    }
    last = now;
}

/*
 * A debugger may switch the counter off at any time: pyOCD writes DEMCR = 0 when it disconnects after
 * `pyocd flash` (the chip keeps running), which stops CYCCNT until a power cycle. So every start turns it on.
 */
static void cyccnt_enable(void)
{
    DEMCR |= DEMCR_TRCENA;
    DWT_LAR = DWT_LAR_KEY;   /* unlocks the DWT on cores that have the lock (Cortex-M7); ignored elsewhere */
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
}

void eip_counter_init(void)
{
    cyccnt_enable();
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE_CPU;   /* samples CYCCNT every 2^24 cycles */
}

void eip_counter_start(void)
{
    cyccnt_enable();
    __asm volatile("cpsid i" ::: "memory");
    DWT_CYCCNT = 0;
    last = 0;
    high = 0;
    __asm volatile("cpsie i" ::: "memory");
}

uint64_t eip_counter_read(void)
{
    __asm volatile("cpsid i" ::: "memory");
    uint32_t now = DWT_CYCCNT;
    uint32_t h = high + (now < last ? 1u : 0u);
    __asm volatile("cpsie i" ::: "memory");
    return ((uint64_t)h << 32) | now;
}

uint64_t eip_counter_to_count(uint64_t ticks) { return ticks; }
