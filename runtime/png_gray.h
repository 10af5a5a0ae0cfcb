/* png_gray.h - a PNG image as a float grayscale matrix (libpng).
 *
 * dp_png_read_gray reads any PNG (gray, gray+alpha, RGB, RGBA, palette;
 * 1 to 16 bits; interlaced or not) into a 2-D float32 dp_array of shape
 * {height, width}, row-major, values in [0, 1]:
 *
 *   gray images:  Y = G / M
 *   color images: Y = (0.299 R + 0.587 G + 0.114 B) / M
 *
 * with M = 255 for 8-bit data (and palettes, and 1/2/4-bit gray, which are
 * first scaled up to 8 bits as libpng does) and M = 65535 for 16-bit data;
 * computed in double, rounded once to float. The weights are those of
 * ITU-R BT.601 luma, applied to the stored (gamma-encoded) values, as
 * PIL's Image.convert("L") does up to its rounding to integers; gAMA,
 * sRGB and iCCP chunks are ignored. Alpha and tRNS transparency are
 * ignored: a pixel's color counts as it is stored.
 *
 * On failure msg gets one line "<path>: <problem>" and *out is empty.
 */
#ifndef DP_PNG_GRAY_H
#define DP_PNG_GRAY_H

#include <stddef.h>

#include "dpgen.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ITU-R BT.601 luma weights. */
#define DP_LUMA_R 0.299
#define DP_LUMA_G 0.587
#define DP_LUMA_B 0.114

dp_status dp_png_read_gray(const char *path, dp_array *out, char *msg,
                           size_t msg_len);

#ifdef __cplusplus
}
#endif
#endif
