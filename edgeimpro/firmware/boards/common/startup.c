/* Cortex-M start-up: vector table, reset handler (FPU on, .data copied, .bss zeroed), fault handlers. */
#include <stdint.h>
#include <string.h>

#include "eip_board.h"

extern uint32_t __stack_top;
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;

int main(void);

/* The app may report a fault over the link before the board stops (weak: absent in bare tests). */
void eip_on_fault(uint32_t cfsr) __attribute__((weak));

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)

void Reset_Handler(void) __attribute__((noreturn));
void Fault_Handler(void) __attribute__((naked, noreturn));
void SysTick_Handler(void);

void Reset_Handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= 0xFu << 20;   /* CP10 and CP11 full access: FPU (and Helium on M55) */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    main();
    eip_board_fatal(0);
}

static void __attribute__((used, noreturn)) fault_report(void)
{
    static volatile int entered;
    uint32_t cfsr = SCB_CFSR;
    if (!entered) {   /* a fault while reporting a fault stops at once */
        entered = 1;
        if (eip_on_fault) {
            eip_on_fault(cfsr);
        }
    }
    eip_board_fatal(cfsr == 0 ? 1u : cfsr);
}

/*
 * The fault may be a stack overflow (the stack ends at the bottom of RAM): C code on that stack would fault
 * again and lock the core up, so the report runs on a fresh stack. Nothing returns to the faulting code.
 */
void Fault_Handler(void)
{
    __asm volatile(
        "ldr r0, =__stack_top\n\t"
        "msr msp, r0\n\t"
        "isb\n\t"
        "b fault_report\n\t"
        ".ltorg");
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) static const vector_t vectors[16] = {
    (vector_t)(uintptr_t)&__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    Fault_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    SysTick_Handler,
};
