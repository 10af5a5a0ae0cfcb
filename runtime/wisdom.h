/* wisdom.h - internal helpers shared by find.c, plan.c and wisdom.c. */
#ifndef DP_WISDOM_H
#define DP_WISDOM_H

#include "dpgen.h"

/* opts (may be NULL) with every unset field at its default. */
void dp_find_opts_resolve(const dp_find_opts *in, dp_find_opts *o);

/* The kernel that serves d in this build: the registered exact-shape one,
 * else the generic one; NULL if none. */
const dp_kernel *dp_kernel_for(const dp_desc *d);

#endif
