/* t_fuzz_regress.c - every input the fuzzers (tests/fuzz/, make fuzz)
 * found a crash or hang with, fed again to the function it broke.
 *
 * tests/fuzz/regress/<target>/ holds the inputs, one file each, for the
 * targets of tests/fuzz/fuzz_<target>.c:
 *   cli, shape  argv words split at NUL and newline, through cli_parse and
 *               cli_gen_desc;
 *   npy, idx    the file itself, through dp_npy_read / dp_idx_read;
 *   lua         DIR/dpgen.lua (a line "--@helper" starts DIR/helper.lua),
 *               through dp_lua_generate with template_dir = DIR.
 * Each must now fail cleanly: an error status, a one-line message, no
 * output left allocated. The directory is found through DP_SRCDIR (set
 * by make check), else the current directory.
 *
 * The generator's command line and Lua host are not in libdpgen, so
 * their sources are compiled into this test. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpgen.h"
#include "idx.h"
#include "tap.h"

#include "../generator/cli.c"
#include "../generator/luahost.c"

/* luahost.c serves built-in templates from here; these tests use only
 * template directories. */
const struct dp_template dp_templates[] = { { NULL, NULL, 0 } };

#define RG_MSG 512

static char rg_tmp[64];

static int rg_one_line(const char *msg, size_t cap)
{
	return memchr(msg, '\0', cap) && msg[0] && !strchr(msg, '\n');
}

static char *rg_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static int rg_spit(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(p, 1, n, f) == n;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok;
}

/* cli: every mode must fail with one line (or succeed, for the run and
 * manifest modes); the generation command must be refused. */
static void rg_cli(const char *name, char *text, size_t len, int shape)
{
	char *argv[65], err[CLI_ERR_LEN] = "";
	int argc = 0, rc;
	size_t start = 0;
	cli_opts o;
	dp_desc d;

	for (size_t i = 0; i <= len && argc < 64; i++)
		if (i == len || text[i] == '\0' || text[i] == '\n') {
			text[i] = '\0';
			if (i < len || i > start)
				argv[argc++] = text + start;
			start = i + 1;
		}
	argv[argc] = NULL;
	if (shape) {
		/* fuzz_shape: the words are --shape, --kernel and --pad. */
		memset(&o, 0, sizeof o);
		o.op = "conv";
		o.algo = "direct";
		o.shape = argc > 0 ? argv[0] : "1x1x1";
		o.kernel = argc > 1 && argv[1][0] ? argv[1] : NULL;
		o.pad = argc > 2 && argv[2][0] ? argv[2] : NULL;
		rc = cli_gen_desc(&o, &d, err, sizeof err);
	} else {
		rc = cli_parse(argc, argv, MODE_GEN, &o, err, sizeof err);
		if (rc == 0)
			rc = cli_gen_desc(&o, &d, err, sizeof err);
	}
	ok(rc == -1 && rg_one_line(err, sizeof err), "%s %s: refused: %s",
	   shape ? "shape" : "cli", name, err);
}

static void rg_npy(const char *name, const char *path)
{
	char msg[RG_MSG] = "";
	dp_array a;
	dp_status st = dp_npy_read(path, &a, msg, sizeof msg);

	ok(st != DP_OK && !a.data && rg_one_line(msg, sizeof msg),
	   "npy %s: %s", name, msg);
	if (st == DP_OK)
		dp_array_free(&a);
}

static void rg_idx(const char *name, const char *path)
{
	char msg[RG_MSG] = "";
	dp_idx a;
	dp_status st = dp_idx_read(path, &a, msg, sizeof msg);

	ok(st != DP_OK && !a.data && rg_one_line(msg, sizeof msg),
	   "idx %s: %s", name, msg);
	if (st == DP_OK)
		dp_idx_free(&a);
}

static void rg_lua(const char *name, const char *text, size_t len)
{
	static const char mark[] = "\n--@helper\n";
	const char *split = NULL;
	char dir[128], main_path[192], helper_path[192];
	int written;

	snprintf(dir, sizeof dir, "%s/templates", rg_tmp);
	snprintf(main_path, sizeof main_path, "%s/dpgen.lua", dir);
	snprintf(helper_path, sizeof helper_path, "%s/helper.lua", dir);
	unlink(helper_path);
	for (size_t i = 0; i + sizeof mark - 1 <= len; i++)
		if (!memcmp(text + i, mark, sizeof mark - 1)) {
			split = text + i;
			break;
		}
	if (split)
		written = rg_spit(main_path, text, (size_t)(split - text)) &&
			rg_spit(helper_path, split + sizeof mark - 1,
			        len - (size_t)(split - text) - (sizeof mark - 1));
	else
		written = rg_spit(main_path, text, len);
	if (!ok(written, "lua %s: template written", name))
		return;
	for (int name_only = 1; name_only >= 0; name_only--) {
		char err[RG_MSG] = "";
		dp_gen_result r;
		dp_desc d;
		int rc;

		memset(&d, 0, sizeof d);
		d.op = DP_OP_CONV;
		d.algo = DP_ALGO_DIRECT;
		d.n = 1;
		d.c = 2;
		d.h = d.w = 5;
		d.k = 3;
		d.r = d.s = 3;
		d.stride = 1;
		d.pad_h = d.pad_w = 1;
		rc = dp_lua_generate(&d, "dpgen regress", dir, name_only, &r,
		                     err, sizeof err);
		ok(rc == -1 && !r.name && !r.c_src && !r.h_src &&
		   rg_one_line(err, sizeof err) &&
		   !strncmp(err, "template error: ", 16),
		   "lua %s (%s): %s", name, name_only ? "name" : "generate",
		   err);
		if (rc == 0)
			dp_gen_result_free(&r);
	}
	unlink(main_path);
	unlink(helper_path);
}

static int rg_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every file of regress/<target>/ in name order; returns how many. */
static int rg_target(const char *root, const char *target)
{
	char dirpath[512], path[1024];
	char *names[256];
	int n = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(dirpath, sizeof dirpath, "%s/tests/fuzz/regress/%s", root,
	         target);
	dir = opendir(dirpath);
	if (!dir)
		return 0;
	while ((e = readdir(dir)) != NULL && n < 256)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(dir);
	qsort(names, (size_t)n, sizeof names[0], rg_cmp);
	for (int i = 0; i < n; i++) {
		size_t len = 0;
		char *text;

		snprintf(path, sizeof path, "%s/%s", dirpath, names[i]);
		text = rg_slurp(path, &len);
		if (!ok(text != NULL, "%s %s: readable", target, names[i])) {
			free(names[i]);
			continue;
		}
		if (!strcmp(target, "cli") || !strcmp(target, "shape"))
			rg_cli(names[i], text, len, !strcmp(target, "shape"));
		else if (!strcmp(target, "npy"))
			rg_npy(names[i], path);
		else if (!strcmp(target, "idx"))
			rg_idx(names[i], path);
		else
			rg_lua(names[i], text, len);
		free(text);
		free(names[i]);
	}
	return n;
}

int main(void)
{
	static const char *const targets[] = { "cli", "shape", "npy", "idx",
	                                        "lua" };
	const char *root = getenv("DP_SRCDIR");
	char dir[128];
	int total = 0;

	if (!root || !*root)
		root = ".";
	strcpy(rg_tmp, "/tmp/dp_fuzz_regress_XXXXXX");
	if (!mkdtemp(rg_tmp)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(dir, sizeof dir, "%s/templates", rg_tmp);
	if (mkdir(dir, 0700) != 0) {
		perror(dir);
		return 2;
	}
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
		total += rg_target(root, targets[i]);
	ok(total > 0, "found %d regression inputs under %s/tests/fuzz/regress",
	   total, root);
	rmdir(dir);
	rmdir(rg_tmp);
	return done_testing();
}
