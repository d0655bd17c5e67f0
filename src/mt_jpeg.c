/* mt_jpeg: JPEG -> 8-bit gray with libjpeg-turbo (the jpeglib API), from memory.
 * The only file that includes <jpeglib.h>; its longjmp never leaves it.  It
 * does not write JPEG.  Reference: libjpeg-turbo's libjpeg.txt (decompression). */
#include "mt_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* libjpeg's error manager extended with our jump target and the first message.
 * It lives in the caller's frame, outside the function that calls setjmp. */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char why[JMSG_LENGTH_MAX];
    uint8_t *buf;  /* decoded gray (h, w) */
    int nomem;     /* our allocation failed */
} jerr;

static void on_error(j_common_ptr cinfo)
{
    jerr *e = (jerr *)cinfo->err;
    if (!e->why[0])
        (*cinfo->err->format_message)(cinfo, e->why);
    longjmp(e->jump, 1);
}

/* Warnings (corrupt data that libjpeg recovers from) don't stop us; a library must not print. */
static void on_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* The calls that may longjmp; kept out of decode() so no local there is clobbered. */
static void decode_body(struct jpeg_decompress_struct *ci, jerr *e, const uint8_t *buf, size_t n,
                        JDIMENSION *w, JDIMENSION *h)
{
    jpeg_mem_src(ci, buf, (unsigned long)n);
    jpeg_read_header(ci, TRUE);
    if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK) {
        snprintf(e->why, sizeof e->why, "CMYK JPEG is not supported");
        ERREXIT(ci, JERR_CONVERSION_NOTIMPL);
    }
    if (ci->image_width > MT_JPEG_MAX_SIDE || ci->image_height > MT_JPEG_MAX_SIDE ||
        (unsigned long long)ci->image_width * ci->image_height > (unsigned long long)MT_JPEG_MAX_PIXELS) {
        snprintf(e->why, sizeof e->why, "image is %ux%u pixels, over the limit of %dx%d and %ld Mpixel",
                 (unsigned)ci->image_width, (unsigned)ci->image_height, MT_JPEG_MAX_SIDE, MT_JPEG_MAX_SIDE,
                 MT_JPEG_MAX_PIXELS / (1024 * 1024));
        ERREXIT(ci, JERR_IMAGE_TOO_BIG);
    }
    ci->out_color_space = JCS_GRAYSCALE;
    jpeg_start_decompress(ci);
    *w = ci->output_width;
    *h = ci->output_height;
    if (ci->output_components != 1) {
        snprintf(e->why, sizeof e->why, "unsupported colour layout");
        ERREXIT(ci, JERR_CONVERSION_NOTIMPL);
    }
    if (!(e->buf = malloc((size_t)*w * *h))) {
        e->nomem = 1;
        snprintf(e->why, sizeof e->why, "out of memory for %ux%u pixels", (unsigned)*w, (unsigned)*h);
        ERREXIT(ci, JERR_OUT_OF_MEMORY);
    }
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW row = e->buf + (size_t)ci->output_scanline * *w;
        jpeg_read_scanlines(ci, &row, 1);
    }
    jpeg_finish_decompress(ci);
}

mt_status mt_jpeg_decode_gray(const uint8_t *buf, size_t n, const char *name, uint8_t **gray,
                              int *w, int *h, mt_err *err)
{
    if (!buf || !name || !gray || !w || !h)
        return mt_errf(err, MT_EARG, "jpeg: bad arguments");
    if (n < 3 || buf[0] != 0xFF || buf[1] != 0xD8 || buf[2] != 0xFF)
        return mt_errf(err, MT_EDATA, "%s: not a JPEG file (bad signature)", name);
    struct jpeg_decompress_struct ci;
    jerr e;
    memset(&ci, 0, sizeof ci);
    memset(&e, 0, sizeof e);
    JDIMENSION W = 0, H = 0;
    ci.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.output_message = on_message;
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&ci);
        free(e.buf);
        if (e.nomem)
            return mt_errf(err, MT_ENOMEM, "%s: %s", name, e.why);
        return mt_errf(err, MT_EDATA, "%s: bad JPEG: %s", name, e.why);
    }
    jpeg_create_decompress(&ci);
    decode_body(&ci, &e, buf, n, &W, &H);
    jpeg_destroy_decompress(&ci);
    *gray = e.buf;
    *w = (int)W;
    *h = (int)H;
    return MT_OK;
}
