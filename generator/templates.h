/* templates.h - the Lua templates compiled into dpgen (see embed.c). */
#ifndef DP_TEMPLATES_H
#define DP_TEMPLATES_H

#include <stddef.h>

struct dp_template {
	const char *module;  /* "conv_direct", "lib.emit" */
	const char *source;
	size_t len;
};

/* Terminated by an entry whose module is NULL. */
extern const struct dp_template dp_templates[];

#endif
