/*
 * NUCLEO-L4R5ZI (STM32L4R5, RM0432): HSI16 -> PLL 120 MHz in Range 1 boost mode; the ST-LINK virtual COM
 * port is LPUART1 on PG7 (TX) / PG8 (RX), AF8. Port G is powered from VDDIO2, which needs PWR_CR2.IOSV.
 * LPUART1 runs from HSI16 so its baud rate does not depend on the system clock.
 * -DEIP_BOARD_CLOCK_SETUP=0 keeps the reset clock (MSI 4 MHz).
 */
#include "eip_board.h"

#ifndef EIP_BOARD_CLOCK_SETUP
#define EIP_BOARD_CLOCK_SETUP 1
#endif

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_CR REG(0x40021000u)
#define RCC_CFGR REG(0x40021008u)
#define RCC_PLLCFGR REG(0x4002100Cu)
#define RCC_AHB2ENR REG(0x4002104Cu)
#define RCC_APB1ENR1 REG(0x40021058u)
#define RCC_APB1ENR2 REG(0x4002105Cu)
#define RCC_CCIPR REG(0x40021088u)
#define PWR_CR2 REG(0x40007004u)
#define PWR_SR2 REG(0x40007014u)
#define PWR_CR5 REG(0x40007080u)
#define FLASH_ACR REG(0x40022000u)
#define GPIOG_MODER REG(0x48001800u)
#define GPIOG_OSPEEDR REG(0x48001808u)
#define GPIOG_PUPDR REG(0x4800180Cu)
#define GPIOG_AFRL REG(0x48001820u)
#define GPIOG_AFRH REG(0x48001824u)

#define HSI16_HZ 16000000u   /* LPUART1's kernel clock */
#define MSI_RESET_HZ 4000000u   /* the reset clock: MSI range 6 */
#define PLL_HZ 120000000u

#if EIP_BOARD_CLOCK_SETUP
_Static_assert(PLL_HZ == EIP_BOARD_CLOCK_HZ, "clock_setup() must reach the registry's clock_hz");
#endif

/* RM0432 LPUART: BRR = 256 x fck / baud must lie within 0x300..0xFFFFF (3,907..5,333,333 baud from HSI16). */
_Static_assert(256ull * HSI16_HZ / EIP_BOARD_UART_BAUD >= 0x300u &&
               256ull * HSI16_HZ / EIP_BOARD_UART_BAUD <= 0xFFFFFu,
               "LPUART1 cannot make the registry's uart_baud from HSI16 (BRR outside 0x300..0xFFFFF)");

uint32_t eip_board_clock_hz = MSI_RESET_HZ;

#if EIP_BOARD_CLOCK_SETUP
static void clock_setup(void)
{
    PWR_CR5 &= ~(1u << 8);                   /* R1MODE = 0: Range 1 boost, needed above 80 MHz */
    while (PWR_SR2 & (1u << 10)) {           /* VOSF: regulator settling */
    }
    FLASH_ACR = (FLASH_ACR & ~0xFu) | 5u | (1u << 8) | (1u << 9) | (1u << 10);   /* 5 WS, caches */
    while ((FLASH_ACR & 0xFu) != 5u) {
    }
    /* HSI16 / M1 = 16 MHz, x N15 = 240 MHz VCO, / R2 = 120 MHz */
    RCC_PLLCFGR = 2u | (0u << 4) | (15u << 8) | (1u << 24) | (0u << 25);
    RCC_CR |= 1u << 24;                      /* PLLON */
    while (!(RCC_CR & (1u << 25))) {
    }
    /* Above 80 MHz the switch goes through AHB /2 for at least 1 us (RM0432 clock switching rule);
       prescalers before the switch, as ST's drivers do: AHB /2, APB1 /1, APB2 /1 */
    RCC_CFGR = (RCC_CFGR & ~0x3FF0u) | (8u << 4);
    RCC_CFGR = (RCC_CFGR & ~3u) | 3u;        /* SW: system clock = PLL */
    while ((RCC_CFGR & (3u << 2)) != (3u << 2)) {   /* SWS */
    }
    for (volatile uint32_t i = 0; i < 200u; i++) {
    }
    RCC_CFGR &= ~0xF0u;                      /* AHB /1: 120 MHz */
    eip_board_clock_hz = PLL_HZ;
}
#endif

void eip_board_init(void)
{
    RCC_APB1ENR1 |= 1u << 28;                /* PWREN */
    (void)RCC_APB1ENR1;
    RCC_CR |= 1u << 8;                       /* HSION: PLL source and LPUART1 kernel clock */
    while (!(RCC_CR & (1u << 10))) {
    }
#if EIP_BOARD_CLOCK_SETUP
    clock_setup();
#endif
    RCC_AHB2ENR |= 1u << 6;                  /* GPIOGEN */
    (void)RCC_AHB2ENR;
    PWR_CR2 |= 1u << 9;                      /* IOSV: VDDIO2 valid, port G usable */
    /* PG7 = LPUART1_TX, PG8 = LPUART1_RX: alternate function 8, RX pulled up */
    GPIOG_MODER = (GPIOG_MODER & ~(0xFu << 14)) | (0xAu << 14);
    GPIOG_OSPEEDR |= 0xFu << 14;
    GPIOG_PUPDR = (GPIOG_PUPDR & ~(0x3u << 16)) | (0x1u << 16);
    GPIOG_AFRL = (GPIOG_AFRL & ~(0xFu << 28)) | (8u << 28);
    GPIOG_AFRH = (GPIOG_AFRH & ~0xFu) | 8u;
    RCC_APB1ENR2 |= 1u << 0;                 /* LPUART1EN */
    RCC_CCIPR = (RCC_CCIPR & ~(3u << 10)) | (2u << 10);   /* LPUART1SEL = HSI16 */
    (void)RCC_APB1ENR2;
    eip_uart_init(HSI16_HZ, EIP_BOARD_UART_BAUD);
    eip_counter_init();
}
