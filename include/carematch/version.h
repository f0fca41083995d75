/* version.h -- carematch version numbers (CMake reads this file). */
#ifndef CM_VERSION_H_INCLUDED_
#define CM_VERSION_H_INCLUDED_

#define CM_VERSION_MAJOR 0
#define CM_VERSION_MINOR 1
#define CM_VERSION_PATCH 0
#define CM_VERSION "0.1.0"

#endif
