/* export.h -- CM_EXPORT, the mark of a public function.
 *
 * The libraries are compiled with hidden visibility (-fvisibility=hidden):
 * a shared library exports exactly the declarations marked CM_EXPORT, the
 * API of these headers, and none of its internal cm__ functions. Every
 * public header includes this one. */
#ifndef CM_EXPORT_H_INCLUDED_
#define CM_EXPORT_H_INCLUDED_

#if defined(__GNUC__) || defined(__clang__)
#define CM_EXPORT __attribute__((visibility("default")))
#else
#define CM_EXPORT
#endif

#endif
