/* redis_slot.h -- the Redis Cluster hash slot of a key (CRC16/XMODEM of
 * its hash tag, modulo 16384), as the server computes it. Every key of a
 * region carries the tag {region}, so a region has one slot. */
#ifndef CM_REDIS_SLOT_H_INCLUDED_
#define CM_REDIS_SLOT_H_INCLUDED_

#include <stddef.h>

#define CM__RD_SLOTS 16384 /* hash slots of a Redis Cluster */

/* The slot of key[0..len): of the part between the first '{' and the
 * next '}' when that part is not empty, else of the whole key (the
 * server's rule). Returns 0..16383. */
int cm__rd_slot_of_key(const char *key, size_t len);

/* The slot of region's keys (cm:{region}:...). Returns 0..16383. */
int cm__rd_slot_of_region(const char *region);

#endif
