/*
 * STM32F405 (RM0090): HSI 16 MHz -> PLL 168 MHz (APB1 42 MHz, APB2 84 MHz), USART1 on PA9/PA10 (AF7).
 * The clock set-up waits for PLLRDY, which QEMU's netduinoplus2 never sets: it runs only when
 * EIP_BOARD_CLOCK_SETUP is 1 (the default for hardware builds; -DEIP_BOARD_CLOCK_SETUP=0/1 overrides).
 */
#include "eip_board.h"

#ifndef EIP_BOARD_CLOCK_SETUP
#define EIP_BOARD_CLOCK_SETUP (!EIP_BOARD_BUILD_TARGET_QEMU)
#endif

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_CR REG(0x40023800u)
#define RCC_PLLCFGR REG(0x40023804u)
#define RCC_CFGR REG(0x40023808u)
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define RCC_APB2ENR REG(0x40023844u)
#define PWR_CR REG(0x40007000u)
#define FLASH_ACR REG(0x40023C00u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_OSPEEDR REG(0x40020008u)
#define GPIOA_PUPDR REG(0x4002000Cu)
#define GPIOA_AFRH REG(0x40020024u)

#define HSI_HZ 16000000u    /* the reset clock: HSI, no prescalers */
#define PLL_HZ 168000000u
#define APB2_HZ_AFTER_SETUP 84000000u

#if EIP_BOARD_CLOCK_SETUP
#define APB2_HZ APB2_HZ_AFTER_SETUP   /* USART1's clock after clock_setup() */
_Static_assert(PLL_HZ == EIP_BOARD_CLOCK_HZ, "clock_setup() must reach the registry's clock_hz");
#else
#define APB2_HZ HSI_HZ
#endif

/* USART1 oversampling by 16: BRR = fck / baud holds a 12-bit mantissa and a 4-bit fraction (RM0090). */
_Static_assert((APB2_HZ + EIP_BOARD_UART_BAUD / 2u) / EIP_BOARD_UART_BAUD >= 16u &&
               (APB2_HZ + EIP_BOARD_UART_BAUD / 2u) / EIP_BOARD_UART_BAUD <= 0xFFFFu,
               "USART1 cannot make the registry's uart_baud from its clock (BRR outside 16..0xFFFF)");

uint32_t eip_board_clock_hz = HSI_HZ;

#if EIP_BOARD_CLOCK_SETUP
static void clock_setup(void)
{
    RCC_APB1ENR |= 1u << 28;                 /* PWREN */
    (void)RCC_APB1ENR;
    PWR_CR |= 1u << 14;                      /* VOS: scale 1 for 168 MHz */
    FLASH_ACR = 5u | (1u << 8) | (1u << 9) | (1u << 10);   /* 5 wait states, prefetch, I- and D-cache */
    while ((FLASH_ACR & 0x7u) != 5u) {
    }
    RCC_CR |= 1u << 0;                       /* HSION */
    while (!(RCC_CR & (1u << 1))) {
    }
    /* HSI / M16 = 1 MHz, x N336 = 336 MHz VCO, / P2 = 168 MHz, / Q7 = 48 MHz; PLLSRC = HSI */
    RCC_PLLCFGR = 16u | (336u << 6) | (0u << 16) | (7u << 24);
    RCC_CR |= 1u << 24;                      /* PLLON */
    while (!(RCC_CR & (1u << 25))) {
    }
    /* prescalers before the switch (as ST's drivers do): AHB /1, APB1 /4 (42 MHz), APB2 /2 (84 MHz) */
    RCC_CFGR = (RCC_CFGR & ~0xFCF0u) | (5u << 10) | (4u << 13);
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;        /* SW: system clock = PLL */
    while ((RCC_CFGR & (3u << 2)) != (2u << 2)) {   /* SWS */
    }
    eip_board_clock_hz = PLL_HZ;
}
#endif

void eip_board_init(void)
{
#if EIP_BOARD_CLOCK_SETUP
    clock_setup();
#endif
    RCC_AHB1ENR |= 1u << 0;                  /* GPIOAEN */
    RCC_APB2ENR |= 1u << 4;                  /* USART1EN */
    (void)RCC_APB2ENR;
    /* PA9 = USART1_TX, PA10 = USART1_RX: alternate function 7, RX pulled up */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);
    GPIOA_OSPEEDR |= 0xFu << 18;
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(0x3u << 20)) | (0x1u << 20);
    GPIOA_AFRH = (GPIOA_AFRH & ~0xFF0u) | (7u << 4) | (7u << 8);
    eip_uart_init(APB2_HZ, EIP_BOARD_UART_BAUD);
    eip_counter_init();
}
