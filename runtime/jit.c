/* jit.c - kernels for shapes nobody generated: generate the source
 * in-process (the Lua templates are compiled into the library), compile it
 * with $CC into a shared object in a private temporary directory, rename
 * it into $XDG_CACHE_HOME/dpgen under a name that holds a hash of
 * everything that went into it, dlopen it. Never prints: failures come
 * back as one-line messages. */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dpgen.h"
#include "jit.h"
#include "../generator/luahost.h"
#include "../generator/templates.h"

extern char **environ;

/* The runtime functions generated kernels call (threads.c). A kernel
 * object is dlopened into programs that link libdpgen statically and
 * export none of its symbols, so each object gets a small shim (below)
 * that defines them and forwards through a pointer the loader fills in.
 * Where the program does export them, the kernel binds to those directly
 * and the shim is not used. Weak: this file builds and links without
 * threads.c; the shim then runs the loop on the caller's thread. */
extern dp_status dp_parallel_for(int items, double flops,
                                 void (*fn)(void *ctx, int begin, int end),
                                 void *ctx) __attribute__((weak));

static const char shim_src[] =
	"/* dp_jit_shim.c - written by libdpgen's JIT (runtime/jit.c). */\n"
	"#include \"dpgen.h\"\n"
	"dp_status (*dp_jit_parallel_for)(int, double, dp_range_fn, void *);\n"
	"dp_status dp_parallel_for(int items, double flops, dp_range_fn fn,\n"
	"                          void *ctx)\n"
	"{\n"
	"\tif (dp_jit_parallel_for)\n"
	"\t\treturn dp_jit_parallel_for(items, flops, fn, ctx);\n"
	"\tif (items < 0 || !fn)\n"
	"\t\treturn DP_ERR_ARG;\n"
	"\tif (items > 0)\n"
	"\t\tfn(ctx, 0, items);\n"
	"\treturn DP_OK;\n"
	"}\n";

#define PATH_LEN 4096
/* A compiler that has not finished after this long is killed. */
#define COMPILE_TIMEOUT 300.0
/* The flags every JIT compilation gets after $DP_JIT_CFLAGS. */
static const char *const fixed_flags[] = {
	"-std=c11", "-fPIC", "-shared", "-w",
};

static atomic_int jit_mode = -1;

dp_status dp_set_jit(int mode)
{
	if (mode < -1 || mode > 1)
		return DP_ERR_ARG;
	atomic_store(&jit_mode, mode);
	return DP_OK;
}

int dp_jit_enabled(void)
{
	int m = atomic_load(&jit_mode);
	if (m >= 0)
		return m;
	const char *e = getenv("DP_JIT");
	return !(e && strcmp(e, "0") == 0);
}

const char *dp_kernel_source_name(dp_kernel_source s)
{
	switch (s) {
	case DP_SOURCE_BUILTIN: return "built-in";
	case DP_SOURCE_GENERIC: return "generic";
	case DP_SOURCE_JIT_COMPILED: return "jit-compiled";
	case DP_SOURCE_JIT_CACHE: return "jit-cache";
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the generator as a library ---- */

/* The variant fields the generator needs filled in: the default Winograd
 * and FFT tiles, as dpgen's command line fills them. */
static void complete_desc(dp_desc *d)
{
	if (d->op != DP_OP_CONV)
		return;
	if (d->algo == DP_ALGO_WINOGRAD && d->tile == 0)
		d->tile = dp_winograd_default_tile(d->r);
	else if (d->algo == DP_ALGO_FFT && d->tile == 0)
		d->tile = dp_fft_default_tile(d);
}

/* Checks before generating: d completed (default tiles), valid, with a
 * template. */
static dp_status gen_check(const dp_desc *in, dp_desc *d, char *msg,
                           size_t msg_len)
{
	char why[DP_MSG_LEN];
	*d = *in;
	complete_desc(d);
	dp_status st = dp_desc_check(d, why, sizeof why);
	if (st != DP_OK) {
		if (msg && msg_len)
			snprintf(msg, msg_len, "%s", why);
		return st;
	}
	if (!dp_algo_generated(d->algo)) {
		if (msg && msg_len)
			snprintf(msg, msg_len, "algorithm %s has no template",
			         dp_algo_name(d->algo));
		return DP_ERR_UNSUPPORTED;
	}
	return DP_OK;
}

/* Run the templates: the name only, or name, .c and .h. */
static dp_status gen_run(const dp_desc *d, int name_only, dp_gen_result *g,
                         char *msg, size_t msg_len)
{
	char command[1024], err[1024];
	dp_desc_command(d, command, sizeof command);
	if (dp_lua_generate(d, command, NULL, name_only, g, err, sizeof err)) {
		if (msg && msg_len) {
			/* Truncated to the caller's buffer. */
			size_t n = strlen(err) < msg_len - 1 ? strlen(err) :
			           msg_len - 1;
			memcpy(msg, err, n);
			msg[n] = '\0';
		}
		return strstr(err, "out of memory") ? DP_ERR_NOMEM :
		       DP_ERR_UNSUPPORTED;
	}
	return DP_OK;
}

dp_status dp_generate_source(const dp_desc *d, char **name, char **c_src,
                             char **h_src, char *msg, size_t msg_len)
{
	if (name)
		*name = NULL;
	if (c_src)
		*c_src = NULL;
	if (h_src)
		*h_src = NULL;
	if (!d || !name || !c_src || !h_src) {
		if (msg && msg_len)
			snprintf(msg, msg_len, "missing argument");
		return DP_ERR_ARG;
	}
	dp_desc dd;
	dp_gen_result g;
	dp_status st = gen_check(d, &dd, msg, msg_len);
	if (st == DP_OK)
		st = gen_run(&dd, 0, &g, msg, msg_len);
	if (st != DP_OK)
		return st;
	*name = g.name;
	*c_src = g.c_src;
	*h_src = g.h_src;
	return DP_OK;
}

/* ---- pieces of the cache key ---- */

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	/* A separator, so "ab"+"c" and "a"+"bc" differ. */
	h ^= 0xff;
	h *= 0x100000001b3ULL;
	return h;
}

static uint64_t fnv1a_str(uint64_t h, const char *s)
{
	return fnv1a(h, s, strlen(s));
}

/* The CPU model and flags lines of /proc/cpuinfo: -march=native means
 * another thing on another CPU sharing the cache (e.g. an NFS home). */
static uint64_t cpu_hash(uint64_t h)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[8192];
	int model = 0, flags = 0;
	if (!f)
		return fnv1a_str(h, "no cpuinfo");
	while ((!model || !flags) && fgets(line, sizeof line, f)) {
		if (!model && strncmp(line, "model name", 10) == 0) {
			h = fnv1a_str(h, line);
			model = 1;
		} else if (!flags && strncmp(line, "flags", 5) == 0) {
			h = fnv1a_str(h, line);
			flags = 1;
		}
	}
	fclose(f);
	return h;
}

/* What every kernel's key shares, computed once per process: the
 * templates compiled into the library (dpgen.h among them) and the CPU. */
static uint64_t shared_key;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void shared_key_init(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	h = fnv1a_str(h, DP_VERSION);
	for (const struct dp_template *t = dp_templates; t->module; t++) {
		h = fnv1a_str(h, t->module);
		h = fnv1a(h, t->source, t->len);
	}
	shared_key = cpu_hash(h);
}

/* dpgen.h as compiled into the library (module "runtime.dpgen.h" of the
 * embedded templates, see the Makefile). */
static const char *header_text(size_t *len)
{
	for (const struct dp_template *t = dp_templates; t->module; t++)
		if (strcmp(t->module, "runtime.dpgen.h") == 0) {
			*len = t->len;
			return t->source;
		}
	return NULL;
}

/* Split a command line on blanks (no quoting) into at most max words,
 * pointing into buf (modified). Returns the count, -1 if too many. */
static int split_words(char *buf, char **words, int max)
{
	int n = 0;
	for (char *p = buf; *p;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			*p++ = '\0';
		if (!*p)
			break;
		if (n == max)
			return -1;
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n')
			p++;
	}
	return n;
}

/* ---- files ---- */

/* out = a b c (c may be NULL); -1 if it does not fit. */
static int cat3(char *out, size_t len, const char *a, const char *b,
                const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
	if (la + lb + lc >= len)
		return -1;
	memcpy(out, a, la);
	memcpy(out + la, b, lb);
	memcpy(out + la + lb, c ? c : "", lc);
	out[la + lb + lc] = '\0';
	return 0;
}

/* mkdir -p; the last component with mode, the parents 0700 (XDG). */
static int make_dirs(const char *path, mode_t mode)
{
	char tmp[PATH_LEN];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(tmp, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* $XDG_CACHE_HOME/dpgen, else $HOME/.cache/dpgen (a relative
 * XDG_CACHE_HOME is ignored, as the XDG spec says). */
static int cache_dir(char *buf, size_t len, char *msg, size_t msg_len)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;
	if (x && x[0] == '/')
		n = snprintf(buf, len, "%s/dpgen", x);
	else if (home && home[0])
		n = snprintf(buf, len, "%s/.cache/dpgen", home);
	else {
		snprintf(msg, msg_len, "no cache directory (neither "
		         "XDG_CACHE_HOME nor HOME is set)");
		return -1;
	}
	if (n < 0 || (size_t)n >= len) {
		snprintf(msg, msg_len, "the cache directory's path is too long");
		return -1;
	}
	if (make_dirs(buf, 0755) != 0) {
		snprintf(msg, msg_len, "cannot create the cache directory '%.120s':"
		         " %s", buf, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		done += (size_t)w;
	}
	return close(fd);
}

/* The first non-empty line of a file, for messages. */
static void first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	buf[0] = '\0';
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0]) {
			size_t n = strlen(line) < len - 1 ? strlen(line) : len - 1;
			memcpy(buf, line, n);
			buf[n] = '\0';
			break;
		}
	}
	fclose(f);
}

/* rm of the few files a build directory holds, then rmdir. */
static void remove_build_dir(const char *dir, const char *name)
{
	static const char *const fixed[] = { "dpgen.h", "cc.log",
	                                     "dp_jit_shim.c" };
	static const char *const ext[] = { ".c", ".h", ".so" };
	char p[PATH_LEN], base[PATH_LEN];
	if (cat3(base, sizeof base, dir, "/", NULL) != 0)
		return;
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		if (cat3(p, sizeof p, base, fixed[i], NULL) == 0)
			unlink(p);
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
		if (cat3(p, sizeof p, base, name, ext[i]) == 0)
			unlink(p);
	rmdir(dir);
}

/* Build directories a crashed or killed process left behind: those
 * (".build-NAME-XXXXXX") untouched for STALE_BUILD seconds. */
#define STALE_BUILD 3600
static void remove_stale_builds(const char *cache)
{
	DIR *dir = opendir(cache);
	if (!dir)
		return;
	struct dirent *e;
	time_t now = time(NULL);
	while ((e = readdir(dir)) != NULL) {
		size_t n = strlen(e->d_name);
		char path[PATH_LEN], name[256];
		struct stat st;
		if (strncmp(e->d_name, ".build-", 7) != 0 || n < 7 + 8 ||
		    n - 14 >= sizeof name ||
		    cat3(path, sizeof path, cache, "/", e->d_name) != 0 ||
		    lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
		    now - st.st_mtime < STALE_BUILD)
			continue;
		memcpy(name, e->d_name + 7, n - 14);
		name[n - 14] = '\0';
		remove_build_dir(path, name);
	}
	closedir(dir);
}

/* ---- compiling ---- */

typedef struct compiler {
	char cc_buf[1024], flags_buf[1024];
	char *argv[96];
	int argc;         /* words of $CC and $DP_JIT_CFLAGS */
	int shim;         /* compile dp_jit_shim.c too */
	char text[2200];  /* the command as text: part of the key */
} compiler;

static int compiler_init(compiler *c, const dp_desc *d, const char *hdr,
                         char *msg, size_t msg_len)
{
	/* The shim needs dpgen.h to declare what it defines. */
	c->shim = strstr(hdr, "dp_parallel_for(") != NULL;
	const char *cc = getenv("CC"), *fl = getenv("DP_JIT_CFLAGS");
	if (!cc || !*cc)
		cc = "cc";
	if (!fl)
		fl = "-O3 -march=native";
	if (snprintf(c->cc_buf, sizeof c->cc_buf, "%s", cc) >=
	    (int)sizeof c->cc_buf ||
	    snprintf(c->flags_buf, sizeof c->flags_buf, "%s", fl) >=
	    (int)sizeof c->flags_buf) {
		snprintf(msg, msg_len, "CC or DP_JIT_CFLAGS is too long");
		return -1;
	}
	int reserve = 16;   /* fixed flags, -I, -o, files, libraries, NULL */
	int max = (int)(sizeof c->argv / sizeof *c->argv) - reserve;
	int n1 = split_words(c->cc_buf, c->argv, max);
	int n2 = n1 < 0 ? -1 : split_words(c->flags_buf, c->argv + n1,
	                                   max - n1);
	if (n1 <= 0 || n2 < 0) {
		snprintf(msg, msg_len, n1 == 0 ? "CC is blank" :
		         "CC and DP_JIT_CFLAGS have too many words");
		return -1;
	}
	c->argc = n1 + n2;
	size_t at = 0;
	c->text[0] = '\0';
	for (int i = 0; i < c->argc; i++)
		at += (size_t)snprintf(c->text + at, sizeof c->text - at, "%s ",
		                       c->argv[i]);
	for (size_t i = 0; i < sizeof fixed_flags / sizeof *fixed_flags; i++)
		at += (size_t)snprintf(c->text + at, sizeof c->text - at, "%s ",
		                       fixed_flags[i]);
	snprintf(c->text + at, sizeof c->text - at, "-lm%s%s",
	         d->algo == DP_ALGO_SVD ? " -llapacke" : "",
	         c->shim ? " shim" : "");
	return 0;
}

/* Run the compiler on dir/name.c into dir/name.so, its output into
 * dir/cc.log. 0 on success, else msg says why. */
static int run_compiler(compiler *c, const dp_desc *d, const char *dir,
                        const char *name, char *msg, size_t msg_len)
{
	char inc[PATH_LEN], src[PATH_LEN], so[PATH_LEN], log[PATH_LEN];
	char base[PATH_LEN], shim[PATH_LEN];
	if (cat3(inc, sizeof inc, "-I", dir, NULL) != 0 ||
	    cat3(shim, sizeof shim, dir, "/dp_jit_shim.c", NULL) != 0 ||
	    cat3(base, sizeof base, dir, "/", name) != 0 ||
	    cat3(src, sizeof src, base, ".c", NULL) != 0 ||
	    cat3(so, sizeof so, base, ".so", NULL) != 0 ||
	    cat3(log, sizeof log, dir, "/cc.log", NULL) != 0) {
		snprintf(msg, msg_len, "the build directory's path is too long");
		return -1;
	}
	char *argv[sizeof c->argv / sizeof *c->argv];
	int n = 0;
	for (int i = 0; i < c->argc; i++)
		argv[n++] = c->argv[i];
	for (size_t i = 0; i < sizeof fixed_flags / sizeof *fixed_flags; i++)
		argv[n++] = (char *)fixed_flags[i];
	argv[n++] = inc;
	argv[n++] = (char *)"-o";
	argv[n++] = so;
	argv[n++] = src;
	if (c->shim)
		argv[n++] = shim;
	argv[n++] = (char *)"-lm";
	if (d->algo == DP_ALGO_SVD)
		argv[n++] = (char *)"-llapacke";
	argv[n] = NULL;

	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa) != 0) {
		snprintf(msg, msg_len, "cannot start the compiler: out of memory");
		return -1;
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT |
	                                 O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		snprintf(msg, msg_len, "cannot run the compiler '%.100s': %s",
		         argv[0], strerror(rc));
		return -1;
	}
	int status = 0;
	double start = now_s();
	struct timespec nap = { 0, 1000000 };
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(msg, msg_len, "waiting for the compiler: %s",
			         strerror(errno));
			return -1;
		}
		if (now_s() - start > COMPILE_TIMEOUT) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(msg, msg_len, "the compiler '%.100s' took more than "
			         "%.0f s and was stopped", argv[0], COMPILE_TIMEOUT);
			return -1;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 20000000)
			nap.tv_nsec *= 2;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char first[200];
	first_line(log, first, sizeof first);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !first[0])
		snprintf(first, sizeof first, "command not found");
	if (WIFEXITED(status))
		snprintf(msg, msg_len, "the compiler '%.60s' failed (exit %d)%s%s",
		         argv[0], WEXITSTATUS(status), first[0] ? ": " : "", first);
	else
		snprintf(msg, msg_len, "the compiler '%.60s' was killed by "
		         "signal %d", argv[0], WTERMSIG(status));
	return -1;
}

/* ---- loading ---- */

static int same_desc(const dp_desc *a, const dp_desc *b)
{
	if (a->op != b->op || a->algo != b->algo ||
	    a->precision != b->precision || a->policy != b->policy)
		return 0;
	if (a->op == DP_OP_MATMUL)
		return a->mm_m == b->mm_m && a->mm_k == b->mm_k &&
		       a->mm_n == b->mm_n && a->rank_a == b->rank_a &&
		       a->rank_b == b->rank_b && a->frac_bits == b->frac_bits &&
		       a->acc_bits == b->acc_bits && a->bin_bits == b->bin_bits;
	return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w &&
	       a->k == b->k && a->r == b->r && a->s == b->s &&
	       a->stride == b->stride && a->pad_h == b->pad_h &&
	       a->pad_w == b->pad_w && a->tile == b->tile &&
	       strcmp(a->points, b->points) == 0;
}

/* dlopen path and check it holds the kernel `name` for d. */
static int load(const char *path, const char *name, const dp_desc *d,
                dp_jit *j, char *msg, size_t msg_len)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		/* dlerror() starts with the path again. */
		size_t pl = strlen(path);
		if (e && !strncmp(e, path, pl) && e[pl] == ':')
			e += pl + 1 + (e[pl + 1] == ' ');
		snprintf(msg, msg_len, "cannot load '%.100s': %.120s", path,
		         e ? e : "unknown error");
		return -1;
	}
	const dp_kernel *k = dlsym(h, name);
	if (!k || !k->name || strcmp(k->name, name) != 0 ||
	    !same_desc(&k->desc, d) || !k->state_bytes || !k->prepare ||
	    !k->workspace_bytes || !k->execute) {
		snprintf(msg, msg_len, "'%.120s' does not hold kernel %.100s",
		         path, name);
		dlclose(h);
		return -1;
	}
	/* The shim's pointer to the real dp_parallel_for, if it has one. */
	void *slot = dlsym(h, "dp_jit_parallel_for");
	if (slot && dp_parallel_for)
		*(dp_status (**)(int, double, void (*)(void *, int, int),
		                 void *))slot = dp_parallel_for;
	j->handle = h;
	j->kern = k;
	return 0;
}

/* The algorithms with a template at the emulated precisions (the
 * "emulated" table of templates/dpgen.lua; keep in step: one missing here
 * stays with the runtime's emulation, one extra would only fall back with
 * a warning). */
static int emulated_template(const dp_desc *d)
{
	if (d->op == DP_OP_CONV)
		return d->algo == DP_ALGO_DIRECT || d->algo == DP_ALGO_WINOGRAD;
	return d->algo == DP_ALGO_GEMM;
}

int dp_jit_applies(const dp_desc *d)
{
	if (!d || !dp_jit_enabled() || !dp_algo_generated(d->algo))
		return 0;
	return d->precision == DP_PREC_FP32 || emulated_template(d);
}

/* Compile name's sources into dir (a fresh private directory) and rename
 * the object to path. */
static int compile_into(compiler *c, const dp_desc *d, const char *cache,
                        const char *name, const char *c_src,
                        const char *h_src, const char *hdr, size_t hdr_len,
                        const char *path, char *msg, size_t msg_len)
{
	char dir[PATH_LEN], p[PATH_LEN], base[PATH_LEN];
	if (cat3(p, sizeof p, cache, "/.build-", name) != 0 ||
	    cat3(dir, sizeof dir, p, "-XXXXXX", NULL) != 0 ||
	    cat3(base, sizeof base, dir, "/", name) != 0) {
		snprintf(msg, msg_len, "the cache directory's path is too long");
		return -1;
	}
	if (!mkdtemp(dir)) {
		snprintf(msg, msg_len, "cannot create a build directory in "
		         "'%.120s': %s", cache, strerror(errno));
		return -1;
	}
	int rc = -1;
	/* base (dir/name) has the length of dir/name from before mkdtemp. */
	if (cat3(base, sizeof base, dir, "/", name) != 0 ||
	    cat3(p, sizeof p, dir, "/dpgen.h", NULL) != 0 ||
	    write_file(p, hdr, hdr_len) != 0)
		goto io;
	if (cat3(p, sizeof p, base, ".h", NULL) != 0 ||
	    write_file(p, h_src, strlen(h_src)) != 0)
		goto io;
	if (cat3(p, sizeof p, base, ".c", NULL) != 0 ||
	    write_file(p, c_src, strlen(c_src)) != 0)
		goto io;
	if (c->shim && (cat3(p, sizeof p, dir, "/dp_jit_shim.c", NULL) != 0 ||
	                write_file(p, shim_src, sizeof shim_src - 1) != 0))
		goto io;
	if (run_compiler(c, d, dir, name, msg, msg_len) != 0)
		goto out;
	if (cat3(p, sizeof p, base, ".so", NULL) != 0)
		goto io;
	if (rename(p, path) != 0) {
		snprintf(msg, msg_len, "cannot create '%.120s': %s", path,
		         strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
io:
	snprintf(msg, msg_len, "cannot write '%.120s': %s", p, strerror(errno));
out:
	remove_build_dir(dir, name);
	return rc;
}

dp_status dp_jit_load(const dp_desc *desc, dp_jit *j, char *msg,
                      size_t msg_len)
{
	double t0 = now_s();
	memset(j, 0, sizeof *j);
	if (!desc) {
		snprintf(msg, msg_len, "no descriptor");
		return DP_ERR_ARG;
	}
	size_t hdr_len = 0;
	const char *hdr = header_text(&hdr_len);
	if (!hdr) {
		snprintf(msg, msg_len, "dpgen.h is not compiled into this "
		         "library");
		return DP_ERR_UNSUPPORTED;
	}
	/* The name only, for now (under a millisecond; the whole source
	 * takes 10-100 ms and is needed only to compile). */
	dp_desc d;
	dp_gen_result g;
	char why[DP_MSG_LEN];
	memset(&g, 0, sizeof g);
	dp_status st = gen_check(desc, &d, why, sizeof why);
	if (st == DP_OK)
		st = gen_run(&d, 1, &g, why, sizeof why);
	if (st != DP_OK) {
		snprintf(msg, msg_len, "cannot generate the kernel: %s", why);
		return st;
	}
	char *name = g.name, *c_src = NULL, *h_src = NULL;
	compiler *c = malloc(sizeof *c);
	char *cache = malloc(PATH_LEN), *path = malloc(PATH_LEN);
	st = DP_ERR_NOMEM;
	if (!c || !cache || !path) {
		snprintf(msg, msg_len, "out of memory");
		goto out;
	}
	st = DP_ERR_IO;
	if (compiler_init(c, &d, hdr, msg, msg_len) != 0 ||
	    cache_dir(cache, PATH_LEN, msg, msg_len) != 0)
		goto out;
	/* The key: everything the source is made of (the templates, dpgen.h,
	 * DP_VERSION, the generation command and every descriptor field the
	 * templates see; generation is deterministic, so equal inputs give
	 * byte-identical sources), the compiler command and flags, the shim
	 * and the CPU. A cache hit then runs no template at all. */
	pthread_once(&shared_once, shared_key_init);
	char command[1024], fields[512];
	dp_desc_command(&d, command, sizeof command);
	snprintf(fields, sizeof fields, "%d %d %d %d | %d %d %d %d %d %d %d %d "
	         "%d %d | %d %d %d | %d %s | %d %d %d %d %d", (int)d.op,
	         (int)d.algo, (int)d.precision, (int)d.policy, d.n, d.c, d.h,
	         d.w, d.k, d.r, d.s, d.stride, d.pad_h, d.pad_w, d.mm_m, d.mm_k,
	         d.mm_n, d.tile, d.points, d.rank_a, d.rank_b, d.frac_bits,
	         d.acc_bits, d.bin_bits);
	uint64_t h = shared_key;
	h = fnv1a_str(h, command);
	h = fnv1a_str(h, fields);
	h = fnv1a_str(h, c->text);
	if (c->shim)
		h = fnv1a_str(h, shim_src);
	if (snprintf(path, PATH_LEN, "%s/%s-%016llx.so", cache, name,
	             (unsigned long long)h) >= PATH_LEN) {
		snprintf(msg, msg_len, "the cache path is too long");
		goto out;
	}
	struct stat sb;
	if (stat(path, &sb) == 0) {
		if (load(path, name, &d, j, why, sizeof why) == 0) {
			j->source = DP_SOURCE_JIT_CACHE;
			st = DP_OK;
			goto out;
		}
		/* Damaged or foreign: compile it again. Another process may
		 * be renaming a good copy in at the same time; unlinking the
		 * path only ever removes a name, never a file in use. */
		unlink(path);
	}
	st = gen_run(&d, 0, &g, msg, msg_len);
	if (st != DP_OK)
		goto out;
	free(name);
	name = g.name;
	c_src = g.c_src;
	h_src = g.h_src;
	st = DP_ERR_IO;
	remove_stale_builds(cache);
	if (compile_into(c, &d, cache, name, c_src, h_src, hdr, hdr_len, path,
	                 msg, msg_len) != 0)
		goto out;
	if (load(path, name, &d, j, msg, msg_len) != 0)
		goto out;
	j->source = DP_SOURCE_JIT_COMPILED;
	st = DP_OK;
out:
	if (st == DP_OK)
		j->seconds = now_s() - t0;
	free(c);
	free(cache);
	free(path);
	free(name);
	free(c_src);
	free(h_src);
	return st;
}

void dp_jit_unload(dp_jit *j)
{
	if (j && j->handle)
		dlclose(j->handle);
	if (j)
		memset(j, 0, sizeof *j);
}
