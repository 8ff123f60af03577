/* Firmware entry: bring up the board, then serve the host forever. */
#include "eip_board.h"
#include "eip_server.h"

int main(void)
{
    eip_board_init();
    eip_server_init();
    for (;;) {
        uint8_t byte;
        int uart_error = eip_uart_read(&byte);
        eip_server_feed(byte, uart_error);
    }
}

/* Called by the board's fault handler: tell the host before the board stops. */
void eip_on_fault(uint32_t cfsr);
void eip_on_fault(uint32_t cfsr) { eip_server_report_fault(cfsr); }
