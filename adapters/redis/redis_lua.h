/* redis_lua.h -- the Lua scripts of a region as the build embeds them.
 *
 * The scripts are the files of adapters/redis/lua/: prelude.lua (what
 * every script starts with: key positions, the off-grid and matchable
 * rules, placing a worker in the index, the derived status, the change
 * stream) and one file per script. At build time cmake/embed_lua.cmake
 * writes redis_lua_scripts.c (in the build tree) defining, for each
 * script n,
 *     cm__rd_lua_<n> = CM__RD_LUA_HEAD + prelude.lua + n.lua
 * so a script's line numbers in Redis's errors are prelude.lua's, then
 * n.lua's after prelude.lua's last line. docs/redis.md, "Editing a
 * script", says how to change one.
 *
 * Every script's last ARGV is the writer's origin tag (cm_redis.origin),
 * so a mirror can skip the changes it made itself. */
#ifndef CM_REDIS_LUA_H_INCLUDED_
#define CM_REDIS_LUA_H_INCLUDED_

#include "carematch/model.h"
#include "redis_geo.h"
#include "redis_keys.h"
#include "redis_scripts.h"

/* prelude.lua numbers the fixed keys of redis_keys.h (1-based). */
_Static_assert(CM__RD_NFIXED == 40, "prelude.lua hard-codes NF = 40");
_Static_assert(CM__RD_K_SEEN == 0 && CM__RD_K_WORKERS == 1 &&
                   CM__RD_K_SEQ == 2 && CM__RD_K_OFFGRID == 3,
               "prelude.lua hard-codes K_SEEN .. K_OFFGRID = 1 .. 4");
_Static_assert(CM__RD_K_GEO0 == 4, "prelude.lua hard-codes K_GEO0 = 5");
_Static_assert(CM__RD_K_LIVE == 36 && CM__RD_K_EVENTS == 37 &&
                   CM__RD_K_CHANGES == 38 && CM__RD_K_RSEQ == 39,
               "prelude.lua hard-codes K_LIVE .. K_RSEQ = 37 .. 40");

/* Entries the change stream keeps (about: XADD MAXLEN ~). */
#define CM__RD_CHANGES_MAX 100000

#define CM__RD_STR_(x) #x
#define CM__RD_STR(x) CM__RD_STR_(x)

/* What the scripts take from C, as Lua locals, in front of prelude.lua's
 * first line (no newline, so line numbers stay the file's). */
/* clang-format off */
#define CM__RD_LUA_HEAD                                             \
  "local LAG_KM, SEEN_SLACK_MS, CHANGES_MAX, MAX_ELDERS = "         \
  CM__RD_STR(CM__RD_LAG_KM) ", " CM__RD_STR(CM__RD_SEEN_SLACK_MS)   \
  ", '" CM__RD_STR(CM__RD_CHANGES_MAX) "', " CM__RD_STR(CM_MAX_ELDERS) " "
/* clang-format on */

/* The scripts, defined in the build tree's redis_lua_scripts.c;
 * redis_scripts.c's table puts them in the order of CM__RD_S_*. */
extern const char cm__rd_lua_upsert[];
extern const char cm__rd_lua_position[];
extern const char cm__rd_lua_status[];
extern const char cm__rd_lua_remove[];
extern const char cm__rd_lua_sweep[];
extern const char cm__rd_lua_positions[];
extern const char cm__rd_lua_commit[];
extern const char cm__rd_lua_lease[];

#endif
