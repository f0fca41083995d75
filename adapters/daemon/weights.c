/* weights.c -- the operator's weights: versioned, persisted, in force from
 * the next batch. With Redis they live in cm:{region}:weights (a second
 * daemon or a restart finds them); with the memory store in the
 * configured file, written to a temporary file (0600) and renamed, so it
 * is never half-written. The stored form is {"version": N, "weights": {...}}.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_json.h"
#include "http.h"
#include "json_util.h"

static char *encode(const cm_weights *w, uint64_t version) {
  json_t *o = json_pack("{s:I,s:o}", "version", (json_int_t)version, "weights",
                        cmd_encode_weights(w));
  char *text =
      o ? cm__json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
  json_decref(o);
  return text;
}

/* The memory store's weights file of region r: [store] weights_file for
 * the default region, "<weights_file>.<region>" for the others. */
static void weights_path(const cmd_region *r, char *buf, size_t n) {
  if (r->index == 0)
    snprintf(buf, n, "%s", r->d->cfg.weights_file);
  else
    snprintf(buf, n, "%s.%s", r->d->cfg.weights_file, r->name);
}

cm_status cmd_weights_save(cmd_region *r, const cm_weights *w, uint64_t version,
                           cm_error *err) {
  char path[600];
  weights_path(r, path, sizeof path);
  char *text = encode(w, version);
  if (!text)
    return cm_error_set(err, CM_E_NOMEM, "", NULL);
  cm_status st = CM_OK;
  if (r->d->cfg.weights_file[0]) {
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* 0600, not fopen's 0666 & ~umask: the daemon's files are its own */
    unlink(tmp); /* a stale one: created afresh, with this mode */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !f)
      close(fd);
    int ok =
        f && fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0)
      ok = 0;
    if (!ok || rename(tmp, path) != 0) {
      unlink(tmp);
      st = cm_error_set(err, CM_E_IO, "", "cannot write %s", path);
    }
  }
  free(text);
  return st;
}

/* Parse a stored form. Returns 0, or -1 with msg. */
static int decode(const char *text, cm_weights *w, uint64_t *version, char *msg,
                  size_t n) {
  json_error_t je;
  json_t *o = json_loads(text, 0, &je);
  json_int_t v = 0;
  cm_error err;
  int rc = -1;
  if (!o)
    snprintf(msg, n, "stored weights: malformed JSON: %s", je.text);
  else if (json_unpack(o, "{s:I}", "version", &v) != 0 || v < 0)
    snprintf(msg, n, "stored weights: no version");
  else if (cm__json_weights_merge(json_object_get(o, "weights"), w, &err) !=
           CM_OK)
    snprintf(msg, n, "stored weights: %s", err.message);
  else
    rc = 0;
  *version = (uint64_t)v;
  json_decref(o);
  return rc;
}

int cmd_weights_apply(cmd_region *r, const char *text, char *msg, size_t n) {
  cm_error err;
  if (!text) { /* none stored: the configured ones, version 1 */
    r->weights_version = 1;
    return 0;
  }
  cm_weights w = r->d->cfg.engine.weights;
  uint64_t version;
  if (decode(text, &w, &version, msg, n) != 0)
    return -1;
  if (cm_engine_weights_set(r->eng, &w, &err) != CM_OK) {
    snprintf(msg, n, "stored weights: %s", err.message);
    return -1;
  }
  r->weights_version = version;
  return 0;
}

int cmd_weights_load(cmd_region *r, char *msg, size_t n) {
  char *text = NULL, path[600];
  weights_path(r, path, sizeof path);
  if (r->d->cfg.weights_file[0]) {
    FILE *f = fopen(path, "r");
    if (f) {
      json_error_t je;
      json_t *o = json_loadf(f, 0, &je);
      fclose(f);
      text = o ? cm__json_dumps(o, 0) : NULL;
      json_decref(o);
      if (!text) {
        snprintf(msg, n, "%s: malformed JSON: %s", path, je.text);
        return -1;
      }
    }
  }
  int rc = cmd_weights_apply(r, text, msg, n);
  free(text);
  return rc;
}

static void reply_weights(cmd_call *c, int code) {
  const cm_engine_config *cfg = cm_engine_config_get(c->r->eng);
  cmd_reply_json(c, code,
                 json_pack("{s:I,s:o}", "version",
                           (json_int_t)c->r->weights_version, "weights",
                           cmd_encode_weights(&cfg->weights)));
}

void cmd_route_weights_get(cmd_call *c) {
  reply_weights(c, 200);
}

/* A weights PUT on Redis, between its SET and the reply (save_async). */
typedef struct weights_save {
  cmd_call *dc; /* the deferred call */
  cm_weights w; /* the weights stored */
} weights_save;

/* The SET's answer: the weights in force from the next batch, version
 * one up, and the reply; or the error, nothing changed. */
static void on_weights_saved(void *ctx, cm_status st, const cm_error *err) {
  weights_save *ws = ctx;
  cmd_call *c = ws->dc;
  cmd_region *r = c->r;
  r->weights_saving = 0;
  cm_error e2;
  if (st == CM_OK && cm_engine_weights_set(r->eng, &ws->w, &e2) != CM_OK) {
    st = e2.code; /* cannot happen: checked before the SET */
    err = &e2;
  }
  if (st != CM_OK) {
    cmd_reply_error(c, err);
  } else {
    r->weights_version++;
    reply_weights(c, 200);
    cmd_kick(r);
  }
  cmd_call_end(c);
  free(ws);
}

/* Store w as the next version on the loop's connection; c is answered
 * from the completion (or now, when it cannot be sent). */
static void save_async(cmd_call *c, const cm_weights *w) {
  cmd_region *r = c->r;
  cm_error err;
  char *text = encode(w, r->weights_version + 1);
  weights_save *ws = text ? malloc(sizeof *ws) : NULL;
  if (!ws) {
    free(text);
    cm_error_set(&err, CM_E_NOMEM, "", NULL);
    cmd_reply_error(c, &err);
    return;
  }
  ws->w = *w;
  if (!(ws->dc = cmd_call_defer(c))) { /* answered 500 */
    free(ws);
    free(text);
    return;
  }
  r->weights_saving = 1;
  if (cm_redis_blob_set_async(r->redis_loop, "weights", text, on_weights_saved,
                              ws, &err) != CM_OK) {
    r->weights_saving = 0;
    cmd_reply_error(ws->dc, &err);
    cmd_call_end(ws->dc);
    free(ws);
  }
  free(text);
}

/* A reload's weights on Redis, between their SET and its answer. */
typedef struct weights_reload {
  cmd_region *r;
  cm_weights w; /* the file's weights, stored as the next version */
} weights_reload;

/* The SET's answer: the file's weights in force, version one up; or the
 * failure logged and the weights in force kept. */
static void on_weights_reloaded(void *ctx, cm_status st, const cm_error *err) {
  weights_reload *wr = ctx;
  cmd_region *r = wr->r;
  cm_error e2;
  if (r->eng) { /* not tearing down */
    r->weights_saving = 0;
    if (st == CM_OK && cm_engine_weights_set(r->eng, &wr->w, &e2) != CM_OK) {
      st = e2.code; /* checked by the reload: cannot happen */
      err = &e2;
    }
    if (st != CM_OK) {
      fprintf(stderr,
              "carematchd: reload: region %s: the file's weights were not "
              "stored in Redis, the weights in force kept: %s\n",
              r->name, err->message);
    } else {
      r->weights_version++;
      cmd_kick(r);
    }
  }
  free(wr);
}

void cmd_weights_reload(cmd_region *r, const cm_weights *w) {
  cm_error err;
  if (!r->redis_loop) { /* memory: the file written, then in force */
    if (cmd_weights_save(r, w, r->weights_version + 1, &err) == CM_OK &&
        cm_engine_weights_set(r->eng, w, &err) == CM_OK)
      r->weights_version++;
    else
      fprintf(stderr,
              "carematchd: reload: region %s: the file's weights were not "
              "stored, the weights in force kept: %s\n",
              r->name, err.message);
    return;
  }
  if (!r->recovered) { /* the stored version is not known yet */
    fprintf(stderr,
            "carematchd: reload: region %s: not recovered from Redis yet; "
            "the file's weights were not applied\n",
            r->name);
    return;
  }
  if (r->weights_saving) { /* a PUT's version is not known yet */
    fprintf(stderr,
            "carematchd: reload: region %s: a change of the weights is "
            "being stored; the file's weights were not applied\n",
            r->name);
    return;
  }
  char *text = encode(w, r->weights_version + 1);
  weights_reload *wr = text ? malloc(sizeof *wr) : NULL;
  cm_status st = CM_E_NOMEM;
  cm_error_set(&err, CM_E_NOMEM, "", NULL);
  if (wr) {
    *wr = (weights_reload){r, *w};
    r->weights_saving = 1; /* in force, and one up, from the SET's answer */
    st = cm_redis_blob_set_async(r->redis_loop, "weights", text,
                                 on_weights_reloaded, wr, &err);
  }
  free(text);
  if (st != CM_OK) {
    r->weights_saving = 0;
    free(wr);
    fprintf(stderr,
            "carematchd: reload: region %s: the file's weights were not "
            "stored in Redis, the weights in force kept: %s\n",
            r->name, err.message);
  }
}

/* {"weights": {some keys}, "version": the version the operator read
 * (optional; a different current version is a conflict)}. */
void cmd_route_weights_put(cmd_call *c) {
  static const char *const keys[] = {"weights", "version", NULL};
  cm_error err;
  const json_t *wo;
  int64_t expect = -1;
  int has_version;
  cmd_region *r = c->r;
  if (!c->body) {
    cm_error_set(&err, CM_E_MISSING, "$.weights", "$.weights: required");
    cmd_reply_error(c, &err);
    return;
  }
  if (cm__json_check_keys(c->body, "$", keys, &err) != CM_OK ||
      cm__json_object(c->body, "$", "weights", 1, &wo, &err) < 0 ||
      (has_version =
           cm__json_int64(c->body, "$", "version", 0, &expect, &err)) < 0) {
    cmd_reply_error(c, &err);
    return;
  }
  if (has_version && expect < 0) {
    cm_error_set(&err, CM_E_RANGE, "$.version",
                 "$.version: must be >= 0 (the version read)");
    cmd_reply_error(c, &err);
    return;
  }
  if (r->weights_saving) { /* its version is not known yet */
    cm_error_set(&err, CM_E_CONFLICT, "$.version",
                 "$.version: another change of the weights is being "
                 "stored; read them again and retry");
    cmd_reply_error(c, &err);
    return;
  }
  if (has_version && (uint64_t)expect != r->weights_version) {
    cm_error_set(&err, CM_E_CONFLICT, "$.version",
                 "$.version: the weights are at version %llu, not %lld",
                 (unsigned long long)r->weights_version, (long long)expect);
    cmd_reply_error(c, &err);
    return;
  }
  cm_weights old = cm_engine_config_get(r->eng)->weights, w = old;
  if (cm__json_weights_merge(wo, &w, &err) != CM_OK ||
      cm_engine_weights_set(r->eng, &w, &err) != CM_OK) {
    cmd_reply_error(c, &err);
    return;
  }
  if (r->redis_loop) { /* stored on the loop's connection, in force and
                          answered from the SET's reply */
    cm_engine_weights_set(r->eng, &old, NULL); /* checked: not yet */
    save_async(c, &w);
    return;
  }
  if (cmd_weights_save(r, &w, r->weights_version + 1, &err) != CM_OK) {
    cm_engine_weights_set(r->eng, &old, NULL); /* nothing changes */
    cmd_reply_error(c, &err);
    return;
  }
  r->weights_version++;
  reply_weights(c, 200);
}
