/* commands.h - dpgen's subcommands; each returns the exit status. */
#ifndef DP_COMMANDS_H
#define DP_COMMANDS_H

#include "dpgen.h"

int cmd_generate(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_manifest(int argc, char **argv);
int cmd_tune(int argc, char **argv);

/* Print "dpgen: msg" on stderr and return 2. */
int usage_fail(const char *msg);

/* Generate the kernel of d into dir (NULL: stdout). Returns the exit
 * status; with name_out, the kernel's name is stored (caller frees). */
int generate_one(const dp_desc *d, const char *dir, const char *templates,
                 char **name_out);

#endif
