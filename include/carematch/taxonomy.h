/* taxonomy.h -- the skill taxonomy: certified roles as bits of a skill set.
 *
 * The default taxonomy holds the six certified roles of the design:
 * caregiver, nurse, escort, rehab, cleaner, maternity. A deployment may
 * replace it with up to CM_MAX_SKILLS roles of its own. */
#ifndef CM_TAXONOMY_H_INCLUDED_
#define CM_TAXONOMY_H_INCLUDED_

#include <stdint.h>

#include "carematch/error.h"
#include "carematch/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CM_MAX_SKILLS 32
#define CM_SKILL_NAME_MAX 32

typedef uint32_t cm_skillset; /* bit s set: holds skill s of the taxonomy */

typedef struct cm_taxonomy {
  int count;                                    /* skills defined */
  char names[CM_MAX_SKILLS][CM_SKILL_NAME_MAX]; /* names[s]: skill s */
} cm_taxonomy;

/* Fill t with the six default roles. */
CM_EXPORT void cm_taxonomy_init(cm_taxonomy *t);
/* Empty taxonomy. */
CM_EXPORT void cm_taxonomy_clear(cm_taxonomy *t);
/* Append a skill: on CM_OK *index (when not NULL) is its index. Fails
 * with err set, t unchanged: CM_E_INVALID (empty or too long name,
 * characters other than [a-z0-9_-]), CM_E_DUPLICATE, CM_E_LIMIT (table
 * full). */
CM_EXPORT cm_status cm_taxonomy_add(cm_taxonomy *t, const char *name,
                                    int *index, cm_error *err);
/* Index of a skill by name, or -1. */
CM_EXPORT int cm_taxonomy_find(const cm_taxonomy *t, const char *name);

#ifdef __cplusplus
}
#endif
#endif
