/* threads.c - the thread count (dp_set_num_threads, DP_NUM_THREADS) and
 * the parallel-for the kernels use (dp_parallel_for), on a persistent
 * pthread pool.
 *
 * Costs on this machine class (2-core EPYC VMs, shared): handing work to a
 * worker that sleeps in the kernel (futex wake, reschedule) costs about
 * WAKE_US = 50 us; handing it to one that is spinning costs about the
 * cache-line round trip of the job word plus cold caches on its side, a
 * few us (SPIN_HANDOFF_US). A call of t seconds single-threaded takes
 * about t / p + o on p threads, where o is the hand-off cost, so it gains
 * only when t (1 - 1/p) > o, i.e. t > 2 o for p = 2. With kernels doing
 * at least RATE_FLOPS = 50 GFLOP/s on one core (most of the generated
 * ones do 30-150; the faster the kernel, the shorter t, so a high rate is
 * the cautious side), the thresholds in flops are
 *     asleep:   2 * 50 us * 50 GFLOP/s = 5 MFLOP     (WAKE_MIN_FLOPS)
 *     spinning: 2 *  2 us * 50 GFLOP/s = 0.2 MFLOP   (SPIN_MIN_FLOPS)
 * Below the threshold that applies (are enough workers spinning right
 * now?) fn runs on the caller's thread alone, so no call is slower on two
 * threads than on one by more than the hand-off it decided to pay. After
 * a job, workers poll for SPIN_US before they sleep: long enough to catch
 * the next kernel of a layer sequence or the next GEMM of a Winograd
 * layer, short enough not to burn a shared core for long. They poll with
 * pause instructions for a few microseconds, then with sched_yield():
 * measured on a Winograd layer (36 GEMMs of 30 us with serial transforms
 * between them) on the loaded machine, pure pause loops made 2 threads
 * 2.4-5.7x slower than 1, the worker spinning on the core the caller's
 * serial work needed.
 *
 * Partition: the items are cut into fixed chunks, CHUNKS_PER_PART per
 * part (chunk c of n is [items c / n, items (c + 1) / n), the same cut for
 * every run), and the threads claim chunks in order from an atomic
 * counter, the caller included. The callers make each item's result
 * independent of who computes it and of the other items (every output
 * written by exactly one item, in the same order of operations), so
 * results are bitwise identical for any thread count, including the
 * serial path. Claiming instead of a fixed chunk per thread is for shared
 * machines: a worker that is preempted or slow to wake leaves its chunks
 * to the caller instead of making it wait (measured with the load at 8 on
 * 2 cores: a fixed half per thread made a GEMM 3.5x slower on two threads
 * than on one).
 *
 * Warming up: a kernel that makes many calls of a few MFLOP each (the
 * GEMMs of a Winograd layer: 36 products of 1.6 MFLOP for C64 H56) would
 * never go parallel if the workers slept, since no single call is worth
 * a wake-up. So a call of at least WARM_MIN_FLOPS (1 MFLOP, about 20 us:
 * the wake-up system call, a few us, is then at most ~10% of it) that
 * finds the workers asleep runs serially but wakes them without waiting
 * (at most once per SPIN_US); the calls that follow find them spinning.
 *
 * Oversubscription: on a machine busier than its cores (shared build
 * hosts) a worker may get no core for milliseconds, and a parallel job
 * can take longer than the serial one would have. The owner of each job
 * of at least 1 MFLOP that found the workers spinning (a job that had to
 * wake them knew the price) compares the job's time with the serial time its
 * own chunks imply (its CPU time per chunk x all chunks: CPU time, so that
 * waiting for a core does not count as work); a job that gained less than
 * 10% makes the following calls serial for a back-off time (10 ms,
 * doubled on every such job in a row up to 1 s, reset by a job that
 * paid). So when the cores are taken, dpgen falls back to one thread
 * instead of waiting for workers that do not run, and probes again at
 * most once a second (a probe on a full machine can cost a whole layer:
 * the woken worker may take the caller's core and run the job alone);
 * dp_set_parallel_min_flops (tests) turns this off.
 *
 * Concurrency: one job at a time. A caller takes the pool with a
 * compare-and-swap; if another user thread holds it (or a worker calls
 * dp_parallel_for from inside a job), that caller runs its job serially.
 * Results are the same either way.
 *
 * Shutdown: an atexit handler, registered when the first worker starts,
 * tells the workers to quit and joins them (nothing for LeakSanitizer or
 * valgrind to report). If the pool is busy at exit (another thread is
 * inside a kernel while main returns), the handler leaves the workers
 * alone rather than wait. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpgen.h"

#define RATE_FLOPS 50e9
#define WAKE_US 50.0
#define SPIN_HANDOFF_US 2.0
#define WAKE_MIN_FLOPS (2 * WAKE_US * 1e-6 * RATE_FLOPS)
#define SPIN_MIN_FLOPS (2 * SPIN_HANDOFF_US * 1e-6 * RATE_FLOPS)
#define SPIN_US 200.0
#define SPIN_PAUSES 256
#define CHUNKS_PER_PART 4
#define WARM_MIN_FLOPS 1e6
#define BACKOFF_MIN_US 10000.0
#define BACKOFF_MAX_US 1000000.0

/* The job word: generation << 16 | parts; workers 1 .. parts - 1 take
 * part. The claim word: generation (low 32 bits) << 32 | chunks << 16 |
 * next chunk. A thread claims a chunk with a compare-and-swap that also
 * checks the generation, and only a thread holding a claimed chunk reads
 * the job's other fields; the owner writes them before it publishes the
 * claim word and returns only when every chunk is finished. A worker that
 * comes late (the job already over, or the next one running) fails the
 * check and touches nothing. */
#define PARTS_BITS 16
#define PARTS_MASK ((UINT64_C(1) << PARTS_BITS) - 1)

static struct pool {
	pthread_mutex_t lock;        /* sleepers wait on wake under it */
	pthread_cond_t wake;
	atomic_uint_fast64_t job;    /* generation << 16 | parts */
	atomic_uint_fast64_t claim;  /* generation << 32 | chunks << 16 | next */
	atomic_int busy;             /* a caller owns the pool */
	atomic_int finished;         /* chunks done */
	atomic_int sleepers;         /* workers in (or entering) cond_wait */
	atomic_int spinners;         /* workers spinning, ready for a job */
	atomic_int quit;
	int nworkers;                /* started; written only by the owner */
	pthread_t tid[DP_MAX_THREADS];
	uint64_t born[DP_MAX_THREADS]; /* the generation a worker started at */
	/* The job: written by the owner before it publishes the claim word. */
	dp_range_fn fn;
	void *ctx;
	int items;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
};

static atomic_int requested;        /* dp_set_num_threads; 0: environment */
static atomic_int from_env;         /* DP_NUM_THREADS, read once (0: not yet) */
static _Atomic double min_flops_override = -1;
/* Oversubscription back-off: serial until this time (now_us). */
static _Atomic double serial_until;
static double backoff_us = BACKOFF_MIN_US;   /* the pool owner's */
static double last_warm = -1e30;             /* the pool owner's */

static int parse_env(void)
{
	const char *s = getenv("DP_NUM_THREADS");
	if (!s || *s < '0' || *s > '9')
		return 1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || errno || v < 1 || v > DP_MAX_THREADS)
		return 1;  /* malformed or out of range: ignored */
	return (int)v;
}

dp_status dp_set_num_threads(int n)
{
	if (n < 0 || n > DP_MAX_THREADS)
		return DP_ERR_ARG;
	if (n == 0)
		atomic_store(&from_env, parse_env());
	atomic_store(&requested, n);
	return DP_OK;
}

int dp_get_num_threads(void)
{
	int n = atomic_load_explicit(&requested, memory_order_relaxed);
	if (n > 0)
		return n;
	n = atomic_load_explicit(&from_env, memory_order_relaxed);
	if (n == 0) {
		/* First use: two threads may both parse; they agree. */
		n = parse_env();
		atomic_store(&from_env, n);
	}
	return n;
}

dp_status dp_set_parallel_min_flops(double flops)
{
	if (!(flops >= 0) && flops != -1)
		return DP_ERR_ARG;
	atomic_store(&min_flops_override, flops);
	return DP_OK;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* CPU time of the calling thread. */
static double cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Claim and run chunks of job generation gen until none is left; how
 * many this thread ran. */
static int run_chunks(uint64_t gen)
{
	uint64_t w = atomic_load(&pool.claim);
	int ran = 0;
	for (;;) {
		const int64_t chunks = (int64_t)(w >> 16 & 0xffff);
		const int64_t c = (int64_t)(w & 0xffff);
		if ((w >> 32) != (gen & 0xffffffffu) || c >= chunks)
			return ran;
		if (!atomic_compare_exchange_weak(&pool.claim, &w, w + 1))
			continue;
		const int64_t n = pool.items;
		const int b = (int)(n * c / chunks), e = (int)(n * (c + 1) / chunks);
		if (e > b)
			pool.fn(pool.ctx, b, e);
		atomic_fetch_add_explicit(&pool.finished, 1, memory_order_release);
		ran++;
		w = atomic_load(&pool.claim);
	}
}

static void *worker(void *arg)
{
	const int index = (int)(intptr_t)arg;
	/* Not the job word now: the first job may be published before this
	 * thread gets to run. */
	uint64_t seen = pool.born[index];
	for (;;) {
		/* Spin for a while, then sleep until the generation moves. */
		uint64_t word = atomic_load_explicit(&pool.job,
		                                     memory_order_acquire);
		if (word >> PARTS_BITS == seen) {
			atomic_fetch_add(&pool.spinners, 1);
			double t0 = now_us();
			/* A few us of pause loops, then yield the core on every
			 * poll: on an idle core that still answers within a system
			 * call, and on a busy one (the owner's serial work between
			 * two jobs may be waiting for it) it steps aside. */
			for (unsigned i = 1;; i++) {
				word = atomic_load_explicit(&pool.job,
				                            memory_order_acquire);
				if (word >> PARTS_BITS != seen)
					break;
				if (i < SPIN_PAUSES) {
					cpu_relax();
				} else {
					sched_yield();
					if (i % 16 == 0 && now_us() - t0 > SPIN_US)
						break;
				}
			}
			atomic_fetch_sub(&pool.spinners, 1);
			if (word >> PARTS_BITS == seen) {
				pthread_mutex_lock(&pool.lock);
				atomic_fetch_add(&pool.sleepers, 1);
				while ((word = atomic_load(&pool.job)) >> PARTS_BITS ==
				       seen)
					pthread_cond_wait(&pool.wake, &pool.lock);
				atomic_fetch_sub(&pool.sleepers, 1);
				pthread_mutex_unlock(&pool.lock);
			}
		}
		seen = word >> PARTS_BITS;
		if (atomic_load(&pool.quit))
			return NULL;
		const int parts = (int)(word & PARTS_MASK);
		if (index < parts)
			run_chunks(seen);
	}
}

static void shutdown_pool(void)
{
	int expect = 0;
	if (!atomic_compare_exchange_strong(&pool.busy, &expect, 1))
		return;  /* a kernel is running somewhere: leave the workers */
	atomic_store(&pool.quit, 1);
	pthread_mutex_lock(&pool.lock);
	atomic_fetch_add(&pool.job, UINT64_C(1) << PARTS_BITS);
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
	for (int i = 1; i <= pool.nworkers; i++)
		pthread_join(pool.tid[i], NULL);
	pool.nworkers = 0;
	atomic_store(&pool.busy, 0);
}

static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

static void register_shutdown(void)
{
	atexit(shutdown_pool);
}

/* Workers 1 .. parts - 1 exist (the pool is owned); returns how many
 * parts can run (fewer if a thread could not be started). */
static int grow(int parts)
{
	pthread_once(&atexit_once, register_shutdown);
	while (pool.nworkers < parts - 1 && !atomic_load(&pool.quit)) {
		int i = pool.nworkers + 1;
		pool.born[i] = atomic_load(&pool.job) >> PARTS_BITS;
		if (pthread_create(&pool.tid[i], NULL, worker,
		                   (void *)(intptr_t)i) != 0)
			break;
		pool.nworkers = i;
	}
	return pool.nworkers + 1 < parts ? pool.nworkers + 1 : parts;
}

/* Wake sleeping workers for the calls to come, without a job for them:
 * the generation moves with 0 parts (nobody claims anything). Only when
 * the pool is free; starts the workers if there are none yet (once per
 * process); at most once per SPIN_US. */
static void warm_up(int parts)
{
	int expect = 0;
	if (!atomic_compare_exchange_strong(&pool.busy, &expect, 1))
		return;
	const double t = now_us();
	if (t - last_warm > SPIN_US && !atomic_load(&pool.quit) &&
	    grow(parts) == parts) {
		last_warm = t;
		uint64_t gen = (atomic_load(&pool.job) >> PARTS_BITS) + 1;
		atomic_store(&pool.job, gen << PARTS_BITS);
		if (atomic_load(&pool.sleepers) > 0) {
			pthread_mutex_lock(&pool.lock);
			pthread_cond_broadcast(&pool.wake);
			pthread_mutex_unlock(&pool.lock);
		}
	}
	atomic_store(&pool.busy, 0);
}

dp_status dp_parallel_for(int items, double flops, dp_range_fn fn, void *ctx)
{
	if (items < 0 || !fn)
		return DP_ERR_ARG;
	if (items == 0)
		return DP_OK;
	int parts = dp_get_num_threads();
	if (parts > items)
		parts = items;
	int adapt = 0, spinning = 0;
	if (parts > 1) {
		double min = atomic_load_explicit(&min_flops_override,
		                                  memory_order_relaxed);
		adapt = min < 0;
		if (adapt) {
			spinning = atomic_load_explicit(&pool.spinners,
			        memory_order_relaxed) >= parts - 1;
			const int backoff = now_us() < atomic_load_explicit(
			        &serial_until, memory_order_relaxed);
			min = spinning ? SPIN_MIN_FLOPS : WAKE_MIN_FLOPS;
			if (backoff) {
				min = INFINITY;
			} else if (!spinning && flops >= WARM_MIN_FLOPS &&
			           flops < WAKE_MIN_FLOPS) {
				warm_up(parts);
				min = INFINITY;
			}
		}
		if (!(flops >= min))
			parts = 1;
	}
	int expect = 0;
	if (parts <= 1 || atomic_load(&pool.quit) ||
	    !atomic_compare_exchange_strong(&pool.busy, &expect, 1)) {
		fn(ctx, 0, items);
		return DP_OK;
	}
	parts = grow(parts);
	if (parts <= 1) {
		atomic_store(&pool.busy, 0);
		fn(ctx, 0, items);
		return DP_OK;
	}
	const int chunks = items < parts * CHUNKS_PER_PART ? items :
	                   parts * CHUNKS_PER_PART;
	/* Judge only calls of at least WARM_MIN_FLOPS: the clock reads (the
	 * thread's CPU clock is a system call) are small next to them. And
	 * only calls that found the workers spinning: a call that wakes them
	 * was let through by WAKE_MIN_FLOPS knowing it pays the wake-up,
	 * which can eat its gain near that threshold; blaming it would make
	 * the calls after it serial although they find the workers awake
	 * (measured: the first phase of an FFT layer, just above the
	 * threshold, kept the whole layer serial). A full machine is still
	 * caught by the next call, which finds them spinning. The clocks
	 * start before the job is published: the worker it wakes may take
	 * the caller's core at once and run the whole job first. */
	adapt = adapt && spinning && flops >= WARM_MIN_FLOPS;
	const double t0 = adapt ? now_us() : 0, c0 = adapt ? cpu_us() : 0;
	pool.fn = fn;
	pool.ctx = ctx;
	pool.items = items;
	atomic_store(&pool.finished, 0);
	uint64_t gen = (atomic_load(&pool.job) >> PARTS_BITS) + 1;
	atomic_store(&pool.claim, (gen & 0xffffffffu) << 32 |
	                          (uint64_t)chunks << 16);
	atomic_store(&pool.job, gen << PARTS_BITS | (uint64_t)parts);
	if (atomic_load(&pool.sleepers) > 0) {
		pthread_mutex_lock(&pool.lock);
		pthread_cond_broadcast(&pool.wake);
		pthread_mutex_unlock(&pool.lock);
	}
	const int mine = run_chunks(gen);
	const double c1 = adapt ? cpu_us() : 0;
	/* Chunks a worker claimed may still be running: spin (they are
	 * about as far along as we are), and yield the core after a while
	 * in case the worker was preempted. */
	for (unsigned i = 1; atomic_load_explicit(&pool.finished,
	                                          memory_order_acquire) <
	                     chunks; i++) {
		if (i < 4096)
			cpu_relax();
		else
			sched_yield();
	}
	if (adapt) {
		/* Did the job pay? Serial, it would have taken about our CPU
		 * time per chunk times all chunks. CPU time, not wall time: when
		 * the machine is full (or our share of it is capped), our own
		 * chunks are stretched by waiting for a core too, and the wall
		 * time would hide that the second thread bought nothing. */
		const double t2 = now_us();
		if (t2 - t0 > 0.9 * (c1 - c0) * chunks / (mine > 0 ? mine : 1)) {
			atomic_store(&serial_until, t2 + backoff_us);
			backoff_us = backoff_us * 2 < BACKOFF_MAX_US ?
			             backoff_us * 2 : BACKOFF_MAX_US;
		} else {
			backoff_us = BACKOFF_MIN_US;
		}
	}
	atomic_store(&pool.busy, 0);
	return DP_OK;
}
