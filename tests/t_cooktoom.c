/* t_cooktoom.c - runs tests/t_cooktoom.lua, the TAP test of the exact
 * Winograd derivation in templates/lib/{rational,cooktoom}.lua.
 *
 * The Lua script prints the TAP lines itself; this host only sets up
 * package.path so that require("lib.rational") finds the templates, and
 * turns an uncaught script error into a "not ok" line plus the plan, so
 * prove never sees a silently truncated run.
 *
 * Usage: t_cooktoom [srcdir]   (else $DP_SRCDIR, else ".")
 */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static const char *source_dir(int argc, char **argv)
{
	const char *env = getenv("DP_SRCDIR");
	if (argc > 1 && argv[1][0] != '\0')
		return argv[1];
	if (env && env[0] != '\0')
		return env;
	return ".";
}

/* package.path = "<srcdir>/templates/?.lua" so modules come from the tree
 * under test, never from a system-wide Lua path. */
static void set_package_path(lua_State *L, const char *srcdir)
{
	lua_getglobal(L, "package");
	lua_pushfstring(L, "%s/templates/?.lua", srcdir);
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	lua_pushstring(L, srcdir);
	lua_setglobal(L, "DP_SRCDIR");
}

/* Message handler: keep the traceback, it is the only clue under prove. */
static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
	return 1;
}

/* Integer field of the global table "tap" the script maintains. */
static lua_Integer tap_field(lua_State *L, const char *name)
{
	lua_Integer v = 0;
	if (lua_getglobal(L, "tap") == LUA_TTABLE) {
		lua_getfield(L, -1, name);
		v = lua_tointeger(L, -1);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return v;
}

/* Print each line of a multi-line message as a TAP diagnostic. */
static void diag_lines(const char *msg)
{
	const char *p = msg;
	printf("# ");
	for (; *p; p++) {
		putchar(*p);
		if (*p == '\n')
			printf("# ");
	}
	putchar('\n');
}

/* After an error: one failing test for it, then the plan. */
static void report_error(lua_State *L, const char *msg)
{
	lua_Integer n = tap_field(L, "count") + 1;
	const char *first_line_end = msg;
	while (*first_line_end && *first_line_end != '\n')
		first_line_end++;
	printf("not ok %lld - script error: %.*s\n", (long long)n,
	       (int)(first_line_end - msg), msg);
	diag_lines(msg);
	printf("1..%lld\n", (long long)n);
}

static int run_script(lua_State *L, const char *srcdir)
{
	int status;
	lua_pushcfunction(L, traceback);
	lua_pushfstring(L, "%s/tests/t_cooktoom.lua", srcdir);
	status = luaL_loadfile(L, lua_tostring(L, -1));
	lua_remove(L, -2); /* the file name */
	if (status == LUA_OK)
		status = lua_pcall(L, 0, 0, -2);
	if (status != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		report_error(L, msg ? msg : "(error object is not a string)");
		return 1;
	}
	return tap_field(L, "failed") != 0;
}

int main(int argc, char **argv)
{
	const char *srcdir = source_dir(argc, argv);
	lua_State *L = luaL_newstate();
	int rc;
	if (!L) {
		printf("not ok 1 - cannot create a Lua state\n1..1\n");
		return 1;
	}
	luaL_openlibs(L);
	set_package_path(L, srcdir);
	rc = run_script(L, srcdir);
	fflush(stdout);
	lua_close(L);
	return rc;
}
