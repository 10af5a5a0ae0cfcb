/* onednn_conv.c - oneDNN forward convolution for the benchmarks (see
 * onednn_conv.h). Written against the oneDNN 2.x C API (Debian 12 ships
 * 2.6.3); 3.x changed memory descriptors into handles and replaced the
 * op-descriptor functions, so it refuses to build there. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "onednn_conv.h"

#if DNNL_VERSION_MAJOR != 2
#error "onednn_conv.c is written for the oneDNN 2.x C API"
#endif

/* One engine and one stream for every primitive of the process. */
static dnnl_engine_t engine;
static dnnl_stream_t stream;

static dnnl_status_t init_engine(void)
{
	dnnl_status_t st = dnnl_success;
	if (!engine)
		st = dnnl_engine_create(&engine, dnnl_cpu, 0);
	if (st == dnnl_success && !stream)
		st = dnnl_stream_create(&stream, engine,
		                        dnnl_stream_default_flags);
	return st;
}

void onednn_shutdown(void)
{
	if (stream)
		dnnl_stream_destroy(stream);
	if (engine)
		dnnl_engine_destroy(engine);
	stream = NULL;
	engine = NULL;
}

const char *onednn_conv_algo_name(onednn_conv_algo a)
{
	static const char *const names[] = { "direct", "winograd", "auto" };
	return (unsigned)a < ONEDNN_CONV_ALGO_COUNT ? names[a] : "?";
}

/* The OpenMP entry points, found in the libgomp that libdnnl loaded, so
 * that the benchmark needs no -fopenmp and no -lgomp of its own. */
static void *omp_symbol(const char *name)
{
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
	static void *self;
	if (!self)
		self = dlopen(NULL, RTLD_NOW);
	return self ? dlsym(self, name) : NULL;
#else
	(void)name;
	return NULL;
#endif
}

int onednn_max_threads(void)
{
	/* A data pointer converted to a function pointer: POSIX dlsym()
	 * guarantees this works; memcpy keeps ISO C pedantry quiet. */
	int (*get)(void);
	void *p = omp_symbol("omp_get_max_threads");
	if (!p)
		return -1;
	memcpy(&get, &p, sizeof get);
	return get();
}

int onednn_set_threads(int n)
{
	void (*set)(int);
	void *p = omp_symbol("omp_set_num_threads");
	if (!p || n < 1)
		return -1;
	memcpy(&set, &p, sizeof set);
	set(n);
	return onednn_max_threads();
}

void onednn_describe(char *buf, size_t len)
{
	const dnnl_version_t *v = dnnl_version();
	snprintf(buf, len, "oneDNN %d.%d.%d, CPU runtime %s, ISA %s",
	         v->major, v->minor, v->patch, dnnl_runtime2str(v->cpu_runtime),
	         dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
}

struct onednn_conv {
	dnnl_primitive_t conv, r_src, r_wei, r_bias, r_dst;
	/* user_*: the caller's plain layouts, data handle set per call;
	 * src, wei, bias, dst, scratch: the primitive's, owned by oneDNN. */
	dnnl_memory_t user_src, user_wei, user_bias, user_dst;
	dnnl_memory_t src, wei, bias, dst, scratch;
	const char *impl;
	int winograd;
};

/* A memory object for md: the library allocates it (own != 0) or the
 * caller points it at its buffer later. */
static dnnl_status_t make_mem(dnnl_memory_t *m, const dnnl_memory_desc_t *md,
                              int own)
{
	return dnnl_memory_create(m, md, engine,
	                          own ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE);
}

static dnnl_status_t make_reorder(dnnl_primitive_t *p,
                                  const dnnl_memory_desc_t *from,
                                  const dnnl_memory_desc_t *to)
{
	dnnl_primitive_desc_t pd;
	dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, from, engine,
	                                                      to, engine, NULL);
	if (st != dnnl_success)
		return st;
	st = dnnl_primitive_create(p, pd);
	dnnl_primitive_desc_destroy(pd);
	return st;
}

static dnnl_status_t run_reorder(dnnl_primitive_t p, dnnl_memory_t from,
                                 dnnl_memory_t to)
{
	dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from },
	                            { DNNL_ARG_TO, to } };
	dnnl_status_t st = dnnl_primitive_execute(p, stream, 2, args);
	return st == dnnl_success ? dnnl_stream_wait(stream) : st;
}

/* A user buffer for a read-only argument: oneDNN takes void *, and only
 * reads sources; the round trip through uintptr_t states that. */
static void *unconst(const float *p)
{
	return (void *)(uintptr_t)p;
}

void onednn_conv_destroy(onednn_conv *c)
{
	if (!c)
		return;
	dnnl_primitive_t prims[] = { c->conv, c->r_src, c->r_wei, c->r_bias,
	                             c->r_dst };
	dnnl_memory_t mems[] = { c->user_src, c->user_wei, c->user_bias,
	                         c->user_dst, c->src, c->wei, c->bias, c->dst,
	                         c->scratch };
	for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
		if (prims[i])
			dnnl_primitive_destroy(prims[i]);
	for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
		if (mems[i])
			dnnl_memory_destroy(mems[i]);
	free(c);
}

#define TRY(call, what) do { \
	st = (call); \
	if (st != dnnl_success) { \
		snprintf(msg, msg_len, "%s: %s", what, dnnl_status2str(st)); \
		goto fail; \
	} \
} while (0)

onednn_conv *onednn_conv_create(const dp_desc *d, onednn_conv_algo algo,
                                char *msg, size_t msg_len)
{
	static const dnnl_alg_kind_t kinds[] = { dnnl_convolution_direct,
		dnnl_convolution_winograd, dnnl_convolution_auto };
	dnnl_status_t st;
	dnnl_primitive_desc_t pd = NULL;
	dnnl_primitive_attr_t attr = NULL;
	onednn_conv *c = calloc(1, sizeof *c);
	if (!c || (unsigned)algo >= ONEDNN_CONV_ALGO_COUNT) {
		snprintf(msg, msg_len, c ? "unknown algorithm" : "out of memory");
		free(c);
		return NULL;
	}
	TRY(init_engine(), "engine");

	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	dnnl_dims_t src_dims = { d->n, d->c, d->h, d->w };
	dnnl_dims_t wei_dims = { d->k, d->c, d->r, d->s };
	dnnl_dims_t bias_dims = { d->k };
	dnnl_dims_t dst_dims = { d->n, d->k, ho, wo };
	dnnl_dims_t strides = { d->stride, d->stride };
	dnnl_dims_t pad = { d->pad_h, d->pad_w };
	/* oneDNN's right/bottom padding: what makes its output size equal
	 * ours, (h + pad_l + pad_r - r) / stride + 1 = ho. */
	dnnl_dims_t pad_r = { (ho - 1) * d->stride + d->r - d->h - d->pad_h,
	                      (wo - 1) * d->stride + d->s - d->w - d->pad_w };
	dnnl_memory_desc_t u_src, u_wei, u_bias, u_dst, a_src, a_wei, a_bias,
	                   a_dst;
	TRY(dnnl_memory_desc_init_by_tag(&u_src, 4, src_dims, dnnl_f32,
	                                 dnnl_nchw), "src md");
	TRY(dnnl_memory_desc_init_by_tag(&u_wei, 4, wei_dims, dnnl_f32,
	                                 dnnl_oihw), "weights md");
	TRY(dnnl_memory_desc_init_by_tag(&u_bias, 1, bias_dims, dnnl_f32,
	                                 dnnl_x), "bias md");
	TRY(dnnl_memory_desc_init_by_tag(&u_dst, 4, dst_dims, dnnl_f32,
	                                 dnnl_nchw), "dst md");
	/* "any": the primitive picks its preferred (blocked) layouts. */
	TRY(dnnl_memory_desc_init_by_tag(&a_src, 4, src_dims, dnnl_f32,
	                                 dnnl_format_tag_any), "src md");
	TRY(dnnl_memory_desc_init_by_tag(&a_wei, 4, wei_dims, dnnl_f32,
	                                 dnnl_format_tag_any), "weights md");
	TRY(dnnl_memory_desc_init_by_tag(&a_bias, 1, bias_dims, dnnl_f32,
	                                 dnnl_format_tag_any), "bias md");
	TRY(dnnl_memory_desc_init_by_tag(&a_dst, 4, dst_dims, dnnl_f32,
	                                 dnnl_format_tag_any), "dst md");

	dnnl_convolution_desc_t cd;
	TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
	        kinds[algo], &a_src, &a_wei, &a_bias, &a_dst, strides, pad,
	        pad_r), "convolution descriptor");
	/* Our scratchpad, allocated here, so execute() allocates nothing. */
	TRY(dnnl_primitive_attr_create(&attr), "attributes");
	TRY(dnnl_primitive_attr_set_scratchpad_mode(attr,
	        dnnl_scratchpad_mode_user), "scratchpad mode");
	st = dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL);
	if (st != dnnl_success) {
		snprintf(msg, msg_len, "%s: no %s implementation for this shape "
		         "on ISA %s", dnnl_status2str(st),
		         dnnl_alg_kind2str(kinds[algo]),
		         dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
		pd = NULL;
		goto fail;
	}
	TRY(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0,
	                              &c->impl), "implementation name");
	const_dnnl_op_desc_t od = NULL;
	TRY(dnnl_primitive_desc_query(pd, dnnl_query_convolution_d, 0, &od),
	    "convolution descriptor query");
	c->winograd = ((const dnnl_convolution_desc_t *)od)->alg_kind ==
	              dnnl_convolution_winograd;

	const dnnl_memory_desc_t *p_src =
		dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
	const dnnl_memory_desc_t *p_wei =
		dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const dnnl_memory_desc_t *p_bias =
		dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
	const dnnl_memory_desc_t *p_dst =
		dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	const dnnl_memory_desc_t *p_scr =
		dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	if (!p_src || !p_wei || !p_bias || !p_dst || !p_scr) {
		st = dnnl_runtime_error;
		snprintf(msg, msg_len, "memory descriptor query failed");
		goto fail;
	}
	TRY(make_mem(&c->user_src, &u_src, 0), "memory");
	TRY(make_mem(&c->user_wei, &u_wei, 0), "memory");
	TRY(make_mem(&c->user_bias, &u_bias, 0), "memory");
	TRY(make_mem(&c->user_dst, &u_dst, 0), "memory");
	TRY(make_mem(&c->src, p_src, 1), "memory");
	TRY(make_mem(&c->wei, p_wei, 1), "memory");
	TRY(make_mem(&c->bias, p_bias, 1), "memory");
	TRY(make_mem(&c->dst, p_dst, 1), "memory");
	TRY(make_mem(&c->scratch, p_scr, 1), "memory");
	TRY(make_reorder(&c->r_src, &u_src, p_src), "src reorder");
	TRY(make_reorder(&c->r_wei, &u_wei, p_wei), "weights reorder");
	TRY(make_reorder(&c->r_bias, &u_bias, p_bias), "bias reorder");
	TRY(make_reorder(&c->r_dst, p_dst, &u_dst), "dst reorder");
	TRY(dnnl_primitive_create(&c->conv, pd), "convolution primitive");
	dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	return c;
fail:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	onednn_conv_destroy(c);
	return NULL;
}

#undef TRY

const char *onednn_conv_impl(const onednn_conv *c)
{
	return c && c->impl ? c->impl : "?";
}

int onednn_conv_is_winograd(const onednn_conv *c)
{
	return c ? c->winograd : 0;
}

int onednn_conv_set_weights(onednn_conv *c, const float *weights,
                            const float *bias)
{
	dnnl_status_t st;
	if ((st = dnnl_memory_set_data_handle(c->user_wei, unconst(weights))) ||
	    (st = run_reorder(c->r_wei, c->user_wei, c->wei)))
		return (int)st;
	if (!bias) {
		/* No bias: zeros in the primitive's bias memory. */
		void *p = NULL;
		const dnnl_memory_desc_t *md;
		if ((st = dnnl_memory_get_data_handle(c->bias, &p)) ||
		    (st = dnnl_memory_get_memory_desc(c->bias, &md)))
			return (int)st;
		memset(p, 0, dnnl_memory_desc_get_size(md));
		return 0;
	}
	if ((st = dnnl_memory_set_data_handle(c->user_bias, unconst(bias))) ||
	    (st = run_reorder(c->r_bias, c->user_bias, c->bias)))
		return (int)st;
	return 0;
}

int onednn_conv_set_input(onednn_conv *c, const float *input)
{
	dnnl_status_t st = dnnl_memory_set_data_handle(c->user_src,
	                                               unconst(input));
	if (st == dnnl_success)
		st = run_reorder(c->r_src, c->user_src, c->src);
	return (int)st;
}

int onednn_conv_execute(onednn_conv *c)
{
	dnnl_exec_arg_t args[] = {
		{ DNNL_ARG_SRC, c->src }, { DNNL_ARG_WEIGHTS, c->wei },
		{ DNNL_ARG_BIAS, c->bias }, { DNNL_ARG_DST, c->dst },
		{ DNNL_ARG_SCRATCHPAD, c->scratch },
	};
	dnnl_status_t st = dnnl_primitive_execute(c->conv, stream,
	                                          sizeof args / sizeof args[0],
	                                          args);
	return (int)(st == dnnl_success ? dnnl_stream_wait(stream) : st);
}

int onednn_conv_get_output(onednn_conv *c, float *output)
{
	dnnl_status_t st = dnnl_memory_set_data_handle(c->user_dst, output);
	if (st == dnnl_success)
		st = run_reorder(c->r_dst, c->dst, c->user_dst);
	return (int)st;
}
