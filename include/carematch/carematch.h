/* carematch.h -- umbrella header of the embeddable library. */
#ifndef CM_CAREMATCH_H_INCLUDED_
#define CM_CAREMATCH_H_INCLUDED_

#include "carematch/error.h"
#include "carematch/model.h"
#include "carematch/solve.h"
#include "carematch/taxonomy.h"
#include "carematch/version.h"

#endif
