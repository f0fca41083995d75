/* carematch.h -- umbrella header of the embeddable library (libcarematch_core):
 * every public header of the core. The JSON codec (json.h and the trace
 * reader sim_trace.h, libcarematch_json) and the Redis adapter (redis.h,
 * libcarematch_redis) are other libraries: include them by name.
 *
 * The API convention, which every public header follows:
 *
 * Names. Functions are cm_<object>_<verb>: cm_engine_submit,
 *   cm_engine_request_get, cm_instance_worker_add, cm_store_redis_open.
 *   The object may be a path (engine_config, store_redis); the verb comes
 *   last. Pure computations are named for what they give
 *   (cm_geo_distance_km, cm_request_penalty), and cm_solve is the solver.
 *   Types are cm_<noun>, macros and enum constants CM_. Internal functions
 *   shared between files are cm__ and not part of the API.
 * Verbs with one meaning:
 *   _init      fills a caller's struct with its defaults; cannot fail
 *              (cm_weights_init, cm_engine_config_init, cm_histogram_init);
 *   _new/_free make and free an object; _free accepts NULL;
 *   _get       copies a value out (or, when it returns a pointer, lends
 *              one: see below); _set replaces one, validated, and nothing
 *              changes on error;
 *   _add       appends (a copy), giving its index through an
 *              out-parameter;
 *   _validate  checks without changing anything (cm_instance_validate,
 *              cm_engine_config_validate);
 *   _name / _parse  map an enum to its wire name and back.
 * Results. A function that can fail returns cm_status (CM_OK or the
 *   error) and takes a cm_error *err, last, which may be NULL; on failure
 *   err says what and where (error.h), and the function says what it left
 *   changed (normally nothing). What it gives back goes through
 *   out-parameters, which may be NULL when the caller does not want them
 *   (cm_engine_step's batch count, the index of an _add). There is no
 *   "returns -1" and no int *failed. Three kinds return their value
 *   directly instead:
 *   - constructors: _new returns the object, or NULL when it failed (with
 *     err set when it takes one); the *_to_json encoders likewise return
 *     a new string or NULL (out of memory only);
 *   - functions that cannot fail: accessors, counters of the caller's own
 *     objects, pure computations, _name (cm_engine_next_due,
 *     cm_engine_poll, cm_histogram_quantile, cm_geo_distance_km);
 *   - predicates (1 or 0: cm_worker_eligible, cm_engine_holds,
 *     cm_redis_connected) and look-ups whose only failure is "not found",
 *     which return an index or count, or -1 then (cm_taxonomy_find,
 *     cm_urgency_parse, cm_engine_worker_jobs).
 * Ownership and lifetime. Every function that returns memory or a
 *   pointer says who owns it and how long it lives. The rules behind them:
 *   what _new returns the caller frees with the matching _free; a char *
 *   result is malloc'ed and the caller frees it with free(); structs passed
 *   in are copied (ids too), except where a comment says "borrowed" (the
 *   store under an engine, the Redis connection under a store or ledger,
 *   the ledger in an engine's config): a borrowed object must outlive the
 *   one that borrows it. A const pointer returned by an accessor
 *   (cm_engine_config_get, cm_redis_region) points into the object and
 *   lives as long as it does. Strings from _name and _message are static.
 *   Pointers given to a callback (cm_store_each, the ledger's visitors)
 *   are valid only during the call. The arrays of an instance may move on
 *   every _add.
 * Threads. The library keeps no global state. An object (engine, store,
 *   instance, Redis connection, ledger) is used from one thread at a time;
 *   different objects may be used on different threads. cm_solve and the
 *   pure functions are reentrant (GLPK's state is per thread: see solve.h);
 *   cm_engine_batch_solve may run on another thread than its engine.
 * Export. Every public function is declared CM_EXPORT (export.h); the
 *   shared libraries are built with hidden visibility and export those
 *   only. */
#ifndef CM_CAREMATCH_H_INCLUDED_
#define CM_CAREMATCH_H_INCLUDED_

#include "carematch/engine.h"
#include "carematch/error.h"
#include "carematch/export.h"
#include "carematch/ledger.h"
#include "carematch/model.h"
#include "carematch/sim.h"
#include "carematch/sim_stats.h"
#include "carematch/sim_world.h"
#include "carematch/solve.h"
#include "carematch/store.h"
#include "carematch/taxonomy.h"
#include "carematch/version.h"

#endif
