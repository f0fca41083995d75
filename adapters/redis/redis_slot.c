/* redis_slot.c -- the Redis Cluster hash slot of a key (see redis_slot.h):
 * CRC16 with the XMODEM polynomial 0x1021, initial value 0, as Redis's
 * src/crc16.c (computed bit by bit: it runs once per connection). */
#include <string.h>

#include "redis_slot.h"

static unsigned crc16(const char *s, size_t len) {
  unsigned crc = 0;
  for (size_t i = 0; i < len; i++) {
    crc ^= (unsigned)(unsigned char)s[i] << 8;
    for (int b = 0; b < 8; b++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

int cm__rd_slot_of_key(const char *key, size_t len) {
  const char *open = memchr(key, '{', len);
  if (open) {
    size_t from = (size_t)(open - key) + 1;
    const char *close = memchr(open + 1, '}', len - from);
    if (close && close > open + 1)
      return (int)(crc16(open + 1, (size_t)(close - open - 1)) % CM__RD_SLOTS);
  }
  return (int)(crc16(key, len) % CM__RD_SLOTS);
}

int cm__rd_slot_of_region(const char *region) {
  return (int)(crc16(region, strlen(region)) % CM__RD_SLOTS);
}
