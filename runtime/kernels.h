/* kernels.h - the generic kernels of the runtime (internal). */
#ifndef DP_KERNELS_H
#define DP_KERNELS_H

#include "dpgen.h"

extern const dp_kernel dp_conv_direct_generic;
extern const dp_kernel dp_matmul_naive_generic;

#endif
