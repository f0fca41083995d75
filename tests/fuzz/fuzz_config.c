/* fuzz_config.c -- libFuzzer target: carematchd's configuration file (INI
 * through inih, docs/daemon.md), parsed from memory with cmd_config_parse.
 * Any input must load or be refused with a message, without a leak; a file
 * that loads must start an engine, as carematchd --check-config promises,
 * and its services must resolve. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  cmd_config *c = malloc(sizeof *c);
  char msg[640];
  if (!text || !c)
    goto done;
  memcpy(text, data, size);
  text[size] = '\0';
  msg[0] = '\0';
  if (cmd_config_parse(text, "fuzz.ini", c, msg, sizeof msg) != 0) {
    if (!msg[0]) {
      fprintf(stderr, "fuzz_config: a refusal without a message\n");
      abort();
    }
    goto done;
  }
  for (int i = 0; i < c->n_services; i++)
    if (cmd_config_service(c, c->services[i].name) == NULL ||
        !c->services[i].skills || c->services[i].staff < 1) {
      fprintf(stderr, "fuzz_config: service %d does not resolve\n", i);
      abort();
    }
  cm_error err;
  cm_store *store = cm_store_memory_new(0);
  cm_engine *eng = store ? cm_engine_new(&c->engine, store, &err) : NULL;
  if (store && !eng) {
    fprintf(stderr, "fuzz_config: loads, but the engine refuses it: %s\n",
            err.message);
    abort();
  }
  cm_engine_free(eng);
  cm_store_free(store);
done:
  free(text);
  free(c);
  return 0;
}
