/* CRC-32 as zlib, gzip and IEEE 802.3 (spec §9.1): reflected polynomial
 * 0xEDB88320, initial value and final XOR 0xFFFFFFFF. Table-driven,
 * eight bytes per step ("slicing by 8"), since full validation runs it over
 * every data byte. The tables are built once, on first use. */
#include <pthread.h>

#include "sa_internal.h"

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
}

uint32_t sa_crc32(uint32_t crc, const void *p, size_t n) {
  pthread_once(&table_once, build_table);
  const uint8_t *b = p;
  uint32_t c = ~crc;
  for (; n >= 8; n -= 8, b += 8) {
    uint32_t lo = c ^ sa_le32(b), hi = sa_le32(b + 4);
    c = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
        table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^
        table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
  }
  for (; n > 0; n--, b++) c = table[0][(c ^ *b) & 0xFF] ^ (c >> 8);
  return ~c;
}
