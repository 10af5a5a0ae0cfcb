/* luahost.c - the embedded Lua 5.4 that runs the templates.
 *
 * Templates run in a small sandbox: only the base, string, table and math
 * libraries (no io, no os: a template cannot touch files or read the
 * clock, which also keeps output deterministic), `require` served from the
 * templates compiled into dpgen or from --templates DIR, text chunks only
 * (also for `load`), a memory cap and an instruction limit. Everything
 * that can run template code or raise a Lua error runs under lua_pcall,
 * so a hostile template gets an error message, never an abort. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "luahost.h"
#include "templates.h"

#define MEM_LIMIT ((size_t)1 << 30)
/* Lua VM instructions one generation may run, counted in steps of
 * INSN_STEP: a few seconds. The kernels of generated/MANIFEST need under
 * a million, im2col with a 31x31 kernel about 3 million. A template that
 * loops forever fails here instead of hanging dpgen. */
#define INSN_LIMIT 300000000LL
#define INSN_STEP 10000

struct host {
	const char *template_dir;
	size_t used;
	long long insns;
};

/* Allocator with a cap, so a runaway template fails instead of swapping. */
static void *cap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct host *h = ud;
	if (!ptr)
		osize = 0;
	if (nsize == 0) {
		free(ptr);
		h->used -= osize;
		return NULL;
	}
	if (nsize > osize && h->used + (nsize - osize) > MEM_LIMIT)
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		h->used = h->used - osize + nsize;
	return p;
}

/* Count hook: stop a template that runs too long, naming the file and
 * line it was at. Once over the limit it raises at every step, so
 * finalizers run by lua_close stop too. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
	void *ud;
	(void)ar;
	lua_getallocf(L, &ud);
	struct host *h = ud;
	h->insns += INSN_STEP;
	if (h->insns > INSN_LIMIT) {
		luaL_where(L, 0);   /* level 0: the function being run */
		lua_pushfstring(L, "template ran too long (more than %d million "
		                "Lua instructions)", (int)(INSN_LIMIT / 1000000));
		lua_concat(L, 2);
		lua_error(L);
	}
}

/* load(chunk, name, mode, env) with mode forced to "t": Lua does not
 * verify binary chunks, and a crafted one can crash the interpreter. */
static int load_text(lua_State *L)
{
	if (lua_gettop(L) < 3)
		lua_settop(L, 3);   /* an absent env stays absent */
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *nb = cap < ((size_t)64 << 20) ? realloc(buf, cap * 2) : NULL;
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	if (buf && ferror(f)) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* package.searchers entry: find a module among the templates. Returns the
 * loader (the compiled chunk) or a string saying where it looked. */
static int search_templates(lua_State *L)
{
	const char *mod = luaL_checkstring(L, 1);
	void *ud;
	lua_getallocf(L, &ud);
	const struct host *h = ud;
	char rel[512];
	snprintf(rel, sizeof rel, "%s.lua", mod);
	for (char *p = rel; *p; p++)
		if (*p == '.' && strcmp(p, ".lua") != 0)
			*p = '/';
	if (!h->template_dir) {
		for (const struct dp_template *t = dp_templates; t->module; t++)
			if (strcmp(t->module, mod) == 0) {
				lua_pushfstring(L, "@templates/%s", rel);
				if (luaL_loadbufferx(L, t->source, t->len,
				                     lua_tostring(L, -1), "t"))
					return lua_error(L);
				lua_pushstring(L, rel);
				return 2;
			}
		lua_pushfstring(L, "no template '%s' compiled into dpgen", mod);
		return 1;
	}
	const char *path = lua_pushfstring(L, "%s/%s", h->template_dir, rel);
	size_t len;
	char *src = read_all(path, &len);
	if (!src) {
		lua_pushfstring(L, "cannot read template '%s': %s", path,
		                strerror(errno));
		return 1;
	}
	lua_pushfstring(L, "@%s", path);
	int rc = luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t");
	free(src);
	if (rc)
		return lua_error(L);
	lua_pushstring(L, path);
	return 2;
}

static void open_sandbox(lua_State *L)
{
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base },
		{ LUA_LOADLIBNAME, luaopen_package },
		{ LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table },
		{ LUA_MATHLIBNAME, luaopen_math },
	};
	for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
		luaL_requiref(L, libs[i].name, libs[i].func, 1);
		lua_pop(L, 1);
	}
	/* Text chunks only. */
	lua_getglobal(L, "load");
	lua_pushcclosure(L, load_text, 1);
	lua_setglobal(L, "load");
	/* No file access from templates. */
	static const char *const drop[] = { "dofile", "loadfile" };
	for (size_t i = 0; i < 2; i++) {
		lua_pushnil(L);
		lua_setglobal(L, drop[i]);
	}
	/* `require` searches only the templates. */
	lua_getglobal(L, LUA_LOADLIBNAME);
	lua_newtable(L);
	lua_pushcfunction(L, search_templates);
	lua_rawseti(L, -2, 1);
	lua_setfield(L, -2, "searchers");
	lua_pushnil(L);
	lua_setfield(L, -2, "loadlib");
	lua_pushstring(L, "");
	lua_setfield(L, -2, "cpath");
	lua_pushstring(L, "");
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
}

static void set_int(lua_State *L, const char *k, int v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

/* The descriptor as a Lua table, with the derived sizes templates need. */
static void push_desc(lua_State *L, const dp_desc *d, const char *command)
{
	lua_newtable(L);
	set_str(L, "op", dp_op_name(d->op));
	set_str(L, "algo", dp_algo_name(d->algo));
	set_str(L, "precision", dp_precision_name(d->precision));
	set_str(L, "policy", dp_policy_name(d->policy));
	set_str(L, "command", command ? command : "");
	set_str(L, "version", DP_VERSION);
	if (d->op == DP_OP_MATMUL) {
		set_int(L, "m", d->mm_m);
		set_int(L, "k", d->mm_k);
		set_int(L, "n", d->mm_n);
		set_int(L, "rank_a", d->rank_a);
		set_int(L, "rank_b", d->rank_b);
		set_int(L, "frac_bits", d->frac_bits);
		set_int(L, "acc_bits", d->acc_bits);
		set_int(L, "bin_bits", d->bin_bits);
		return;
	}
	set_int(L, "n", d->n);
	set_int(L, "c", d->c);
	set_int(L, "h", d->h);
	set_int(L, "w", d->w);
	set_int(L, "k", d->k);
	set_int(L, "r", d->r);
	set_int(L, "s", d->s);
	set_int(L, "stride", d->stride);
	set_int(L, "pad_h", d->pad_h);
	set_int(L, "pad_w", d->pad_w);
	set_int(L, "ho", dp_conv_out_h(d));
	set_int(L, "wo", dp_conv_out_w(d));
	if (d->algo == DP_ALGO_WINOGRAD) {
		set_int(L, "tile", d->tile);
		set_str(L, "points", d->points);
	} else if (d->algo == DP_ALGO_FFT) {
		set_int(L, "tile", d->tile);
	}
}

/* lua_pcall message handler: keep the message, add nothing. Non-string
 * errors get a description so the user sees something useful. */
static int on_error(lua_State *L)
{
	if (!lua_isstring(L, 1))
		lua_pushfstring(L, "template raised a %s value",
		                luaL_typename(L, 1));
	return 1;
}

static char *dup_string(lua_State *L, int idx)
{
	size_t n;
	const char *s = lua_tolstring(L, idx, &n);  /* a string: no conversion */
	char *copy = malloc(n + 1);
	if (copy)
		memcpy(copy, s, n + 1);
	return copy;
}

struct call {
	const dp_desc *d;
	const char *command;
	int name_only;
};

/* Run under lua_pcall: set up the sandbox, run dpgen.kernel_name(desc) or
 * dpgen.generate(desc) and check the result. Leaves the name, or the
 * name, .c and .h texts, as strings on the stack. */
static int entry(lua_State *L)
{
	const struct call *c = lua_touserdata(L, 1);
	const char *fn = c->name_only ? "kernel_name" : "generate";
	static const char *const fields[] = { "name", "c", "h" };

	lua_settop(L, 0);
	open_sandbox(L);
	lua_getglobal(L, "require");
	lua_pushstring(L, "dpgen");
	lua_call(L, 1, 1);
	if (!lua_istable(L, 1))
		return luaL_error(L, "module dpgen returned a %s, not a table",
		                  luaL_typename(L, 1));
	if (lua_getfield(L, 1, fn) != LUA_TFUNCTION)
		return luaL_error(L, "module dpgen has no function %s", fn);
	push_desc(L, c->d, c->command);
	lua_call(L, 1, 1);
	if (c->name_only) {
		if (lua_type(L, 2) != LUA_TSTRING)
			return luaL_error(L, "kernel_name returned no string");
		return 1;
	}
	if (!lua_istable(L, 2))
		return luaL_error(L, "generate returned no table");
	for (int i = 0; i < 3; i++)
		if (lua_getfield(L, 2, fields[i]) != LUA_TSTRING)
			return luaL_error(L, "template result has no string "
			                  "field '%s'", fields[i]);
	return 3;
}

int dp_lua_generate(const dp_desc *d, const char *command,
                    const char *template_dir, int name_only,
                    dp_gen_result *out, char *err, size_t err_len)
{
	struct host h = { template_dir, 0, 0 };
	struct call c = { d, command, name_only };
	memset(out, 0, sizeof *out);
	lua_State *L = lua_newstate(cap_alloc, &h);
	if (!L) {
		snprintf(err, err_len, "cannot create the Lua state");
		return -1;
	}
	int rc = -1;
	lua_sethook(L, count_hook, LUA_MASKCOUNT, INSN_STEP);
	lua_pushcfunction(L, on_error);
	lua_pushcfunction(L, entry);
	lua_pushlightuserdata(L, &c);
	if (lua_pcall(L, 1, LUA_MULTRET, 1) != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		snprintf(err, err_len, "template error: %s",
		         msg ? msg : "(no message)");
		/* One line: Lua's require joins the places it looked with
		 * "\n\t". */
		for (char *p = err; *p; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
		goto done;
	}
	/* The results follow the message handler at index 1. */
	out->name = dup_string(L, 2);
	if (!name_only && out->name) {
		out->c_src = dup_string(L, 3);
		out->h_src = out->c_src ? dup_string(L, 4) : NULL;
	}
	if (!out->name || (!name_only && !out->h_src))
		snprintf(err, err_len, "out of memory");
	else
		rc = 0;
done:
	lua_close(L);
	if (rc)
		dp_gen_result_free(out);
	return rc;
}

void dp_gen_result_free(dp_gen_result *r)
{
	free(r->name);
	free(r->c_src);
	free(r->h_src);
	memset(r, 0, sizeof *r);
}
