/* The protocol server (docs/protocol.md): answers host frames for the one generated model. */
#ifndef EIP_SERVER_H
#define EIP_SERVER_H

#include <stdint.h>

void eip_server_init(void);
/* Feeds one byte from the UART (uart_error: the UART flagged it); answers complete frames. */
void eip_server_feed(uint8_t byte, int uart_error);
/* Sends ERROR FAULT; called from fault handlers before the board stops. */
void eip_server_report_fault(uint32_t detail);

#endif /* EIP_SERVER_H */
