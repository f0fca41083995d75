/* taxonomy.c -- skill names and their bit positions. */
#include <string.h>

#include "carematch/taxonomy.h"

static const char *const default_roles[] = {
    "caregiver", "nurse", "escort", "rehab", "cleaner", "maternity"};

void cm_taxonomy_clear(cm_taxonomy *t) {
  memset(t, 0, sizeof *t);
}

void cm_taxonomy_init(cm_taxonomy *t) {
  cm_taxonomy_clear(t);
  for (size_t i = 0; i < sizeof default_roles / sizeof *default_roles; i++)
    cm_taxonomy_add(t, default_roles[i], NULL, NULL);
}

int cm_taxonomy_find(const cm_taxonomy *t, const char *name) {
  for (int i = 0; i < t->count; i++)
    if (strcmp(t->names[i], name) == 0)
      return i;
  return -1;
}

static int valid_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n >= CM_SKILL_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return 0;
  }
  return 1;
}

cm_status cm_taxonomy_add(cm_taxonomy *t, const char *name, int *index,
                          cm_error *err) {
  if (!name || !valid_name(name))
    return cm_error_set(err, CM_E_INVALID, "",
                        "skill name must be 1..%d characters of [a-z0-9_-]",
                        CM_SKILL_NAME_MAX - 1);
  if (cm_taxonomy_find(t, name) >= 0)
    return cm_error_set(err, CM_E_DUPLICATE, "", "skill '%s' is defined twice",
                        name);
  if (t->count >= CM_MAX_SKILLS)
    return cm_error_set(err, CM_E_LIMIT, "", "at most %d skills",
                        CM_MAX_SKILLS);
  memcpy(t->names[t->count], name, strlen(name) + 1);
  if (index)
    *index = t->count;
  t->count++;
  return CM_OK;
}
