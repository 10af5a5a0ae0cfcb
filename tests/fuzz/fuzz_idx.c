/* fuzz_idx.c - libFuzzer target: the IDX reader, plain and gzipped.
 *
 * The input is written to a per-process file under /tmp and read with
 * dp_idx_read (inputs that start with 1f 8b exercise the gzip path with
 * damaged streams); then it is gzip-compressed with zlib and read again,
 * which must give the same result as the plain read. An accepted array
 * must have a consistent shape. */
#include <zlib.h>

#include "fuzz_util.h"

#include "idx.h"

static char plain_path[128], gz_path[128];

/* gzip (not zlib) framing of data into *out (malloc'd); returns its size. */
static size_t gzip_bytes(const uint8_t *data, size_t size, uint8_t **out)
{
	z_stream z;
	uLong cap;
	uint8_t *buf;

	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	cap = deflateBound(&z, (uLong)size) + 64;
	buf = malloc(cap);
	if (!buf)
		abort();
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)size;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	deflateEnd(&z);
	*out = buf;
	return (size_t)z.total_out;
}

static dp_status read_checked(const char *path, dp_idx *a)
{
	char msg[FUZZ_MSG_LEN] = "";
	dp_status st = dp_idx_read(path, a, msg, sizeof msg);

	if (st != DP_OK) {
		fuzz_check_msg(msg, sizeof msg);
		if (a->data || a->ndim)
			abort();
		return st;
	}
	if (dp_idx_elems(a) < 1 || dp_idx_elems(a) > DP_MAX_ELEMS ||
	    !a->data || !dp_idx_type_name(a->type))
		abort();
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dp_idx a, b;
	dp_status sa, sb;
	uint8_t *gz;
	size_t gz_size;

	if (!plain_path[0]) {
		fuzz_tmp_path(plain_path, sizeof plain_path, "in.idx");
		fuzz_tmp_path(gz_path, sizeof gz_path, "in.idx.gz");
	}
	fuzz_write(plain_path, data, size);
	sa = read_checked(plain_path, &a);

	gz_size = gzip_bytes(data, size, &gz);
	fuzz_write(gz_path, gz, gz_size);
	free(gz);
	sb = read_checked(gz_path, &b);
	/* An input that is itself gzip data is unpacked once by the plain
	 * read, so only the others must agree with its compression. */
	if (!(size >= 2 && data[0] == 0x1f && data[1] == 0x8b)) {
		if ((sa == DP_OK) != (sb == DP_OK))
			abort();
		if (sa == DP_OK &&
		    (a.type != b.type || a.ndim != b.ndim ||
		     memcmp(a.dims, b.dims, sizeof a.dims) ||
		     memcmp(a.data, b.data, (size_t)dp_idx_elems(&a) *
		            dp_idx_type_size(a.type))))
			abort();
	}
	dp_idx_free(&a);
	dp_idx_free(&b);
	return 0;
}
