/* png_gray.c - read a PNG file into a float grayscale matrix (see
 * png_gray.h for the conversion).
 *
 * libpng reports errors by calling an error function that must not
 * return; ours records the message and longjmps back. The setjmp lives in
 * decode_guarded(), and everything that has to survive the jump is in a
 * png_job owned by its caller, so no local of the function that called
 * setjmp is modified between setjmp and longjmp.
 */
#include <errno.h>
#include <png.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png_gray.h"

typedef struct png_job {
	const char *path;
	char *msg;
	size_t msg_len;
	FILE *fp;
	png_structp png;
	png_infop info;
	unsigned char *pixels;  /* decoded rows, after the transforms */
	png_bytep *rows;
	float *gray;            /* the result */
	uint32_t height, width;
	dp_status st;           /* set by the error paths */
} png_job;

static dp_status fail(png_job *j, dp_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static dp_status fail(png_job *j, dp_status st, const char *fmt, ...)
{
	va_list ap;
	int n;

	j->st = st;
	if (!j->msg || j->msg_len == 0)
		return st;
	n = snprintf(j->msg, j->msg_len, "%s: ",
		     j->path ? j->path : "(null path)");
	if (n < 0 || (size_t)n >= j->msg_len)
		return st;
	va_start(ap, fmt);
	vsnprintf(j->msg + n, j->msg_len - (size_t)n, fmt, ap);
	va_end(ap);
	return st;
}

static void on_error(png_structp png, png_const_charp text)
{
	png_job *j = png_get_error_ptr(png);

	/* libpng's "Read Error" means its fread came up short. */
	if (ferror(j->fp))
		fail(j, DP_ERR_IO, "read failed: %s", strerror(errno));
	else if (feof(j->fp))
		fail(j, DP_ERR_FORMAT, "PNG data is truncated (libpng: %s)",
		     text);
	else
		fail(j, DP_ERR_FORMAT, "damaged or unsupported PNG: %s", text);
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text)
{
	(void)png;
	(void)text;
}

/* Everything after the signature; errors longjmp out through on_error. */
static void decode(png_job *j)
{
	png_structp png = j->png;
	png_infop info = j->info;
	int depth, color, channels, maxval;
	size_t rowbytes;

	png_read_info(png, info);
	j->width = png_get_image_width(png, info);
	j->height = png_get_image_height(png, info);
	color = png_get_color_type(png, info);
	/* DP_MAX_ELEMS is 2^28, so the product and every byte count below
	 * fit in size_t (6 bytes per pixel at most). */
	if ((uint64_t)j->width * j->height > (uint64_t)DP_MAX_ELEMS) {
		fail(j, DP_ERR_FORMAT, "image is %lu x %lu, more than %lld "
		     "pixels (the DP_MAX_ELEMS limit)",
		     (unsigned long)j->width, (unsigned long)j->height,
		     (long long)DP_MAX_ELEMS);
		png_longjmp(png, 1);
	}
	if (color == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)
		png_set_expand_gray_1_2_4_to_8(png);
	if (color & PNG_COLOR_MASK_ALPHA)
		png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	depth = png_get_bit_depth(png, info);
	channels = png_get_channels(png, info);
	rowbytes = png_get_rowbytes(png, info);
	if ((depth != 8 && depth != 16) || (channels != 1 && channels != 3) ||
	    rowbytes != (size_t)j->width * (size_t)channels *
	    (size_t)(depth / 8)) {
		fail(j, DP_ERR_FORMAT, "unexpected PNG layout after "
		     "conversion (%d bits, %d channels)", depth, channels);
		png_longjmp(png, 1);
	}
	j->pixels = malloc(rowbytes * j->height);
	j->rows = malloc(sizeof *j->rows * j->height);
	j->gray = malloc(sizeof *j->gray * (size_t)j->width * j->height);
	if (!j->pixels || !j->rows || !j->gray) {
		fail(j, DP_ERR_NOMEM, "out of memory for a %lu x %lu image",
		     (unsigned long)j->width, (unsigned long)j->height);
		png_longjmp(png, 1);
	}
	for (uint32_t y = 0; y < j->height; y++)
		j->rows[y] = j->pixels + (size_t)y * rowbytes;
	png_read_image(png, j->rows);
	png_read_end(png, NULL);

	maxval = depth == 16 ? 65535 : 255;
	for (uint32_t y = 0; y < j->height; y++) {
		const unsigned char *p = j->rows[y];
		float *g = j->gray + (size_t)y * j->width;

		for (uint32_t x = 0; x < j->width; x++) {
			double v[3];

			for (int k = 0; k < channels; k++, p += depth / 8)
				v[k] = depth == 16 ? (double)(p[0] << 8 | p[1])
					: (double)p[0];
			g[x] = (float)((channels == 1 ? v[0] :
					DP_LUMA_R * v[0] + DP_LUMA_G * v[1] +
					DP_LUMA_B * v[2]) / maxval);
		}
	}
}

static int decode_guarded(png_job *j)
{
	if (setjmp(png_jmpbuf(j->png)))
		return -1;
	decode(j);
	return 0;
}

dp_status dp_png_read_gray(const char *path, dp_array *out, char *msg,
			   size_t msg_len)
{
	png_job j;
	unsigned char sig[8];
	size_t got;

	memset(&j, 0, sizeof j);
	j.path = path;
	j.msg = msg;
	j.msg_len = msg_len;
	if (msg && msg_len)
		msg[0] = '\0';
	if (!out)
		return fail(&j, DP_ERR_ARG, "no output array given");
	memset(out, 0, sizeof *out);
	if (!path)
		return fail(&j, DP_ERR_ARG, "no path given");
	j.fp = fopen(path, "rb");
	if (!j.fp)
		return fail(&j, DP_ERR_IO, "cannot open for reading: %s",
			    strerror(errno));
	got = fread(sig, 1, sizeof sig, j.fp);
	if (got < sizeof sig && ferror(j.fp)) {
		int err = errno;

		fclose(j.fp);
		return fail(&j, DP_ERR_IO, "read failed: %s", strerror(err));
	}
	if (got == 0 || png_sig_cmp(sig, 0, got) != 0 || got < sizeof sig) {
		fclose(j.fp);
		if (got == 0)
			return fail(&j, DP_ERR_FORMAT,
				    "file is empty, not a PNG file");
		if (got < sizeof sig && png_sig_cmp(sig, 0, got) == 0)
			return fail(&j, DP_ERR_FORMAT, "file is too short "
				    "(%zu bytes) for a PNG file", got);
		return fail(&j, DP_ERR_FORMAT,
			    "not a PNG file (bad signature)");
	}
	j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_error,
				       on_warning);
	if (j.png)
		j.info = png_create_info_struct(j.png);
	if (!j.png || !j.info) {
		png_destroy_read_struct(j.png ? &j.png : NULL, NULL, NULL);
		fclose(j.fp);
		return fail(&j, DP_ERR_NOMEM, "out of memory in libpng");
	}
	png_init_io(j.png, j.fp);
	png_set_sig_bytes(j.png, (int)sizeof sig);
	j.st = DP_OK;
	if (decode_guarded(&j) != 0) {
		free(j.gray);
		j.gray = NULL;
		if (j.st == DP_OK) /* cannot happen: every path sets it */
			fail(&j, DP_ERR_FORMAT, "damaged PNG");
	}
	png_destroy_read_struct(&j.png, &j.info, NULL);
	free(j.rows);
	free(j.pixels);
	fclose(j.fp);
	if (!j.gray)
		return j.st;
	out->ndim = 2;
	out->shape[0] = j.height;
	out->shape[1] = j.width;
	out->data = j.gray;
	return DP_OK;
}
