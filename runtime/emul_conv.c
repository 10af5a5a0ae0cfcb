/* emul_conv.c - convolution at emulated precisions (docs/PRECISION.md).
 * Being written (issue 6): no algorithm is emulated yet, so every
 * non-fp32 convolution descriptor is reported as unsupported. */
#include "dpgen.h"
#include "kernels.h"

const dp_kernel *dp_emul_conv_kernel(const dp_desc *d)
{
	(void)d;
	return NULL;
}
