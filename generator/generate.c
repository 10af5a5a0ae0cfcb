/* generate.c - `dpgen --op ... --algo ...`: emit one kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "luahost.h"
#include "output.h"

int generate_one(const dp_desc *d, const char *dir, const char *templates,
                 char **name_out)
{
	char command[1024], err[CLI_ERR_LEN + 512];
	dp_gen_result g;
	dp_desc_command(d, command, sizeof command);
	if (dp_lua_generate(d, command, templates, 0, &g, err, sizeof err)) {
		fprintf(stderr, "dpgen: %s\n", err);
		return 1;
	}
	int rc = 0;
	if (!dir) {
		if (fputs(g.h_src, stdout) == EOF || putchar('\n') == EOF ||
		    fputs(g.c_src, stdout) == EOF || fflush(stdout) == EOF) {
			fprintf(stderr, "dpgen: cannot write to standard output\n");
			rc = 1;
		}
	} else {
		char cname[512], hname[512];
		snprintf(cname, sizeof cname, "%s.c", g.name);
		snprintf(hname, sizeof hname, "%s.h", g.name);
		out_file files[2] = { { hname, g.h_src }, { cname, g.c_src } };
		if (write_files(dir, files, 2, err, sizeof err))
			rc = usage_fail(err);
	}
	if (rc == 0 && name_out) {
		*name_out = g.name;
		g.name = NULL;
	}
	dp_gen_result_free(&g);
	return rc;
}

int cmd_generate(int argc, char **argv)
{
	cli_opts o;
	dp_desc d;
	char err[CLI_ERR_LEN];
	if (cli_parse(argc, argv, MODE_GEN, &o, err, sizeof err))
		return usage_fail(err);
	if (o.help) {
		cli_help(MODE_GEN);
		return 0;
	}
	if (o.version) {
		printf("dpgen %s\n", DP_VERSION);
		return 0;
	}
	if (o.list) {
		cli_list();
		return 0;
	}
	if (cli_gen_desc(&o, &d, err, sizeof err))
		return usage_fail(err);

	if (o.print_name) {
		dp_gen_result g;
		char lerr[CLI_ERR_LEN + 512];
		if (dp_lua_generate(&d, "", o.templates, 1, &g, lerr,
		                    sizeof lerr)) {
			fprintf(stderr, "dpgen: %s\n", lerr);
			return 1;
		}
		printf("%s\n", g.name);
		dp_gen_result_free(&g);
		return 0;
	}
	return generate_one(&d, o.to_stdout ? NULL :
	                    (o.outdir ? o.outdir : "generated"), o.templates,
	                    NULL);
}
