/* redis_link.c -- an external program built against an installed
 * carematch's Redis adapter (scripts/package-test.sh): connects to a port
 * where no Redis listens and prints how the adapter refused, as a user of
 * libcarematch_redis would see it. Exit 0 when the refusal is the
 * documented CM_E_UNAVAILABLE, 1 otherwise. */
#include <carematch/redis.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: redis_link PORT (where nothing listens)\n");
    return 1;
  }
  cm_redis_options opt;
  cm_redis_options_init(&opt);
  opt.timeout_ms = 1000;
  cm_error err;
  cm_redis *r = cm_redis_new("127.0.0.1", atoi(argv[1]), "pkgtest", &opt, &err);
  if (r) {
    fprintf(stderr, "redis_link: something answered on port %s\n", argv[1]);
    cm_redis_free(r);
    return 1;
  }
  printf("redis: %s\n", cm_status_name(err.code));
  return err.code == CM_E_UNAVAILABLE ? 0 : 1;
}
