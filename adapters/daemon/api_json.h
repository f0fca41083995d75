/* api_json.h -- carematchd's wire format (docs/openapi.json): requests,
 * workers, positions, events and weights to JSON and back, with jansson.
 * Decoders are strict (unknown keys refused) and name the JSON path of the
 * first bad field in err ("$.lat", "$.positions[3].id"). Encoders return a
 * new reference, or NULL when out of memory. */
#ifndef CMD_API_JSON_H_INCLUDED_
#define CMD_API_JSON_H_INCLUDED_

#include <jansson.h>

#include "daemon.h"

/* A request to create (POST /v1/requests). Skills come from "skills" (role
 * names) or from "service" (the catalog); "skill_mode" and "staff" default
 * to the service's, else "all" and 1. */
cm_status cmd_decode_request(const cmd_config *c, const json_t *o,
                             cm_request_spec *out, cm_error *err);
json_t *cmd_encode_view(const cm_taxonomy *t, const cm_request_view *v);

/* A worker to upsert (PUT /v1/workers/{id}); id comes from the path.
 * *on_shift: "on_shift" (default true). */
cm_status cmd_decode_worker(const cmd_config *c, const char *id,
                            const json_t *o, cm_worker *out, cm_error *err);
json_t *cmd_encode_worker(const cm_taxonomy *t, const cm_worker *w, int jobs);

/* One position {"lat", "lon"} at base. */
cm_status cmd_decode_position(const json_t *o, const char *base, double *lat,
                              double *lon, cm_error *err);

json_t *cmd_encode_event(const cm_event *ev);

/* Weights are read with cm__json_weights_merge (json_util.h). */
json_t *cmd_encode_weights(const cm_weights *w);

/* A string field that must be an id (1..63 bytes, no control bytes). */
cm_status cmd_decode_id(const json_t *o, const char *base, const char *key,
                        char *out, cm_error *err);

#endif
