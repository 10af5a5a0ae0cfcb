/* jit.h - generate, compile and load the kernel of a shape nobody
 * generated (internal; the public side is at the end of the find/plan
 * section of dpgen.h). */
#ifndef DP_JIT_H
#define DP_JIT_H

#include "dpgen.h"

typedef struct dp_jit {
	void *handle;            /* dlopen handle, NULL if none */
	const dp_kernel *kern;   /* the loaded kernel */
	dp_kernel_source source; /* DP_SOURCE_JIT_COMPILED or _CACHE */
	double seconds;          /* generating + compiling + loading */
} dp_jit;

/* 1 if the JIT is on and can generate d's algorithm and precision. */
int dp_jit_applies(const dp_desc *d);

/* Generate d's kernel, find it in the cache or compile it, load it.
 * On failure *j is empty and msg holds one line saying why. */
dp_status dp_jit_load(const dp_desc *d, dp_jit *j, char *msg,
                      size_t msg_len);

/* dlclose the kernel's object; *j becomes empty. */
void dp_jit_unload(dp_jit *j);

#endif
