/* plan.c - choose an algorithm (the descriptor's own, the fastest, or the
 * fastest within an error budget), prepare it once, run it many times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "jit.h"
#include "wisdom.h"

struct dp_plan {
	dp_desc desc;
	const dp_kernel *kern;
	void *state;
	void *ws;              /* NULL when the caller supplies workspaces */
	dp_find_result result;
	dp_kernel_source source;
	dp_jit jit;            /* the loaded object of a JIT kernel */
};

const dp_kernel *dp_kernel_for(const dp_desc *d)
{
	const dp_kernel *k = dp_registry_find(d);
	return k ? k : dp_generic_kernel(d);
}

/* The result that fits the choice among n sorted results, or NULL. */
static const dp_find_result *pick(const dp_find_result *r, int n,
                                  dp_choice choice, double budget)
{
	for (int i = 0; i < n; i++) {
		if (r[i].status != DP_OK)
			continue;
		if (choice == DP_FASTEST && !r[i].approximate)
			return &r[i];
		if (choice == DP_FASTEST_WITHIN && r[i].rel_err <= budget)
			return &r[i];
	}
	return NULL;
}

/* From wisdom: a usable entry that fits the choice fills *res. */
static int from_wisdom(const char *path, const dp_desc *d, dp_choice choice,
                       double budget, dp_find_result *res)
{
	dp_wisdom *w = NULL;
	dp_wisdom_entry e;
	int hit = 0;
	if (dp_wisdom_load(path, &w) != DP_OK)
		return 0;
	if (dp_wisdom_lookup(w, d, &e) == DP_OK &&
	    (choice == DP_FASTEST || e.rel_err <= budget)) {
		memset(res, 0, sizeof *res);
		res->desc = e.desc;
		res->status = DP_OK;
		snprintf(res->kernel, sizeof res->kernel, "%s", e.kernel);
		res->max_abs_err = e.max_abs_err;
		res->rel_err = e.rel_err;
		hit = 1;
	}
	dp_wisdom_free(w);
	return hit;
}

static dp_status plan(const dp_desc *d, dp_op op, dp_choice choice,
                      const dp_plan_opts *opts, const float *weights,
                      const float *bias, dp_plan **out)
{
	if (out)
		*out = NULL;
	if (!d || !out || !weights || d->op != op)
		return DP_ERR_ARG;
	if (choice != DP_CHOOSE_DESC && choice != DP_FASTEST &&
	    choice != DP_FASTEST_WITHIN)
		return DP_ERR_ARG;
	dp_plan_opts o;
	if (opts)
		o = *opts;
	else
		memset(&o, 0, sizeof o);
	if (choice == DP_FASTEST_WITHIN && !(o.max_rel_error >= 0))
		return DP_ERR_ARG;
	dp_find_result res;
	memset(&res, 0, sizeof res);
	if (choice == DP_CHOOSE_DESC) {
		dp_status st = dp_desc_check(d, NULL, 0);
		if (st != DP_OK)
			return st;
		res.desc = *d;
	} else if (!(o.wisdom && from_wisdom(o.wisdom, d, choice,
	                                     o.max_rel_error, &res))) {
		dp_find_result *all = calloc(DP_FIND_MAX, sizeof *all);
		int n = 0;
		if (!all)
			return DP_ERR_NOMEM;
		dp_status st = op == DP_OP_CONV ?
			dp_find_conv(d, &o.find, all, DP_FIND_MAX, &n) :
			dp_find_matmul(d, &o.find, all, DP_FIND_MAX, &n);
		const dp_find_result *best = st == DP_OK ?
			pick(all, n, choice, o.max_rel_error) : NULL;
		if (best)
			res = *best;
		free(all);
		if (st != DP_OK)
			return st;
		if (!best)
			return DP_ERR_BUDGET;
		/* A wisdom file that cannot be written costs the next run a
		 * measurement, not this plan. */
		if (o.wisdom)
			(void)dp_wisdom_record(o.wisdom, &res, NULL, 0);
	}
	dp_plan *p = calloc(1, sizeof *p);
	if (!p)
		return DP_ERR_NOMEM;
	/* The built-in exact-shape kernel, else one compiled for this shape
	 * (jit.c), else the generic one, with the reason in the message. */
	const dp_kernel *kern = dp_registry_find(&res.desc);
	p->source = DP_SOURCE_BUILTIN;
	res.message[0] = '\0';
	if (!kern && dp_jit_applies(&res.desc)) {
		char why[DP_MSG_LEN];
		if (dp_jit_load(&res.desc, &p->jit, why, sizeof why) == DP_OK) {
			kern = p->jit.kern;
			p->source = p->jit.source;
		} else {
			snprintf(res.message, sizeof res.message, "jit: %.200s; "
			         "using the generic kernel", why);
		}
	}
	if (!kern) {
		kern = dp_generic_kernel(&res.desc);
		p->source = DP_SOURCE_GENERIC;
	}
	if (!kern) {
		free(p);
		return DP_ERR_UNSUPPORTED;
	}
	snprintf(res.kernel, sizeof res.kernel, "%s", kern->name);
	res.generated = p->source != DP_SOURCE_GENERIC;
	p->desc = res.desc;
	p->kern = kern;
	p->result = res;
	p->result.state_bytes = kern->state_bytes(&p->desc);
	p->result.workspace_bytes = kern->workspace_bytes(&p->desc);
	p->state = malloc(p->result.state_bytes + 1);
	if (!o.caller_workspace)
		p->ws = malloc(p->result.workspace_bytes + 1);
	dp_status st = DP_ERR_NOMEM;
	if (p->state && (p->ws || o.caller_workspace))
		st = kern->prepare(&p->desc, weights, bias, p->state);
	if (st != DP_OK) {
		dp_destroy(p);
		return st;
	}
	*out = p;
	return DP_OK;
}

dp_status dp_plan_conv(const dp_desc *d, dp_choice choice,
                       const dp_plan_opts *opts, const float *weights,
                       const float *bias, dp_plan **out)
{
	return plan(d, DP_OP_CONV, choice, opts, weights, bias, out);
}

dp_status dp_plan_matmul(const dp_desc *d, dp_choice choice,
                         const dp_plan_opts *opts, const float *b,
                         dp_plan **out)
{
	return plan(d, DP_OP_MATMUL, choice, opts, b, NULL, out);
}

size_t dp_plan_workspace_bytes(const dp_plan *p)
{
	return p ? p->result.workspace_bytes : 0;
}

const dp_kernel *dp_plan_kernel(const dp_plan *p)
{
	return p ? p->kern : NULL;
}

const dp_desc *dp_plan_desc(const dp_plan *p)
{
	return p ? &p->desc : NULL;
}

const dp_find_result *dp_plan_result(const dp_plan *p)
{
	return p ? &p->result : NULL;
}

dp_status dp_execute(const dp_plan *p, const float *in, float *out,
                     void *workspace)
{
	if (!p || !in || !out)
		return DP_ERR_ARG;
	void *ws = workspace ? workspace : p->ws;
	if (!ws)
		return DP_ERR_ARG;
	return p->kern->execute(&p->desc, p->state, in, out, ws);
}

void dp_destroy(dp_plan *p)
{
	if (!p)
		return;
	free(p->state);
	free(p->ws);
	dp_jit_unload(&p->jit);
	free(p);
}

dp_kernel_source dp_plan_source(const dp_plan *p)
{
	return p ? p->source : DP_SOURCE_GENERIC;
}

const char *dp_plan_warning(const dp_plan *p)
{
	return p ? p->result.message : "";
}

double dp_plan_jit_seconds(const dp_plan *p)
{
	return p ? p->jit.seconds : 0;
}
