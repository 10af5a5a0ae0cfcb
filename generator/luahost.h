/* luahost.h - run the Lua templates for one descriptor. */
#ifndef DP_LUAHOST_H
#define DP_LUAHOST_H

#include <stddef.h>

#include "dpgen.h"

typedef struct dp_gen_result {
	char *name;   /* kernel name */
	char *c_src;  /* the .c file */
	char *h_src;  /* the .h file */
} dp_gen_result;

/* Generate the kernel for d. command is the dpgen command line that
 * reproduces it (it goes into the files' banner). template_dir NULL uses
 * the templates compiled into dpgen. With name_only, only name is set.
 * On failure returns non-zero and writes one line into err. */
int dp_lua_generate(const dp_desc *d, const char *command,
                    const char *template_dir, int name_only,
                    dp_gen_result *out, char *err, size_t err_len);

void dp_gen_result_free(dp_gen_result *r);

#endif
