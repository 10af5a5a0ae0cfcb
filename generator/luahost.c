/* luahost.c - the embedded Lua 5.4 that runs the templates.
 *
 * Templates run in a small sandbox: only the base, string, table and math
 * libraries (no io, no os: a template cannot touch files or read the
 * clock, which also keeps output deterministic), `require` served from the
 * templates compiled into dpgen or from --templates DIR, text chunks only,
 * and a memory cap. */
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

struct host {
	const char *template_dir;
	size_t used;
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

static char *dup_field(lua_State *L, const char *k, char *err, size_t len)
{
	lua_getfield(L, -1, k);
	size_t n;
	const char *s = lua_tolstring(L, -1, &n);
	char *copy = NULL;
	if (!s || lua_type(L, -1) != LUA_TSTRING)
		snprintf(err, len, "template result has no string field '%s'", k);
	else if ((copy = malloc(n + 1)) != NULL)
		memcpy(copy, s, n + 1);
	else
		snprintf(err, len, "out of memory");
	lua_pop(L, 1);
	return copy;
}

/* Runs dpgen.<fn>(desc) protected; leaves the result on the stack. */
static int call_entry(lua_State *L, const char *fn, const dp_desc *d,
                      const char *command, char *err, size_t len)
{
	lua_pushcfunction(L, on_error);
	lua_getglobal(L, "require");
	lua_pushstring(L, "dpgen");
	if (lua_pcall(L, 1, 1, -3) != LUA_OK)
		goto fail;
	lua_getfield(L, -1, fn);
	push_desc(L, d, command);
	if (lua_pcall(L, 1, 1, -4) != LUA_OK)
		goto fail;
	return 0;
fail:
	snprintf(err, len, "template error: %s", lua_tostring(L, -1));
	/* One line: Lua's require joins the places it looked with "\n\t". */
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	return -1;
}

int dp_lua_generate(const dp_desc *d, const char *command,
                    const char *template_dir, int name_only,
                    dp_gen_result *out, char *err, size_t err_len)
{
	struct host h = { template_dir, 0 };
	memset(out, 0, sizeof *out);
	lua_State *L = lua_newstate(cap_alloc, &h);
	if (!L) {
		snprintf(err, err_len, "cannot create the Lua state");
		return -1;
	}
	int rc = -1;
	open_sandbox(L);
	if (call_entry(L, name_only ? "kernel_name" : "generate", d, command,
	               err, err_len))
		goto done;
	if (name_only) {
		if (lua_type(L, -1) != LUA_TSTRING) {
			snprintf(err, err_len, "template error: kernel_name "
			         "returned no string");
			goto done;
		}
		out->name = strdup(lua_tostring(L, -1));
		rc = out->name ? 0 : -1;
		goto done;
	}
	if (!lua_istable(L, -1)) {
		snprintf(err, err_len, "template error: generate returned no table");
		goto done;
	}
	out->name = dup_field(L, "name", err, err_len);
	out->c_src = out->name ? dup_field(L, "c", err, err_len) : NULL;
	out->h_src = out->c_src ? dup_field(L, "h", err, err_len) : NULL;
	rc = out->h_src ? 0 : -1;
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
