/* CRC-32 (IEEE 802.3, reflected 0xEDB88320; the same as zlib.crc32) for link frames. */
#ifndef EIP_CRC32_H
#define EIP_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* zlib semantics: start with crc = 0, feed pieces, the return value is the CRC of everything fed. */
uint32_t eip_crc32(uint32_t crc, const uint8_t *data, size_t n);

#endif /* EIP_CRC32_H */
