/* mt_png: PNG output (atomic temp-file + rename) and input (any PNG -> 8-bit gray/RGB).
 * The only file that includes <png.h>; libpng's longjmp never leaves it. Colour
 * management (gAMA, iCCP, ...) is deliberately not done: values are used as stored.
 * Reference: libpng 1.6 manual (libpng-manual.txt), PNG spec (W3C, 2nd ed.). */
#include "mt_png.h"
#include "mt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* State shared by the libpng callbacks and our cleanup code. It lives in the
 * caller's frame, outside the functions that call setjmp, so nothing in it is
 * clobbered by longjmp. */
typedef struct {
    FILE *fp;
    const uint8_t *mem; /* read path: the PNG in memory instead of fp (mem_n bytes) */
    size_t mem_n, mem_pos;
    char why[256];  /* first error: ours (set before png_error) or libpng's */
    int eof;        /* a read hit end of file: the PNG is truncated */
    int nomem;      /* an allocation failed */
    uint8_t *buf;   /* decoded RGBA (h, w, 4), read path only */
    png_bytep *rows;/* (h) pointers into buf */
    png_uint_32 w, h;
    int has_alpha;  /* the PNG had an alpha channel or tRNS */
} io_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    io_ctx *c = png_get_error_ptr(png);
    if (!c->why[0])
        snprintf(c->why, sizeof c->why, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (unknown chunks, bad ancillary CRCs) don't stop us; a library must not print. */
static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* ------------------------------------------------------------------------- */
/* Writing                                                                   */
/* ------------------------------------------------------------------------- */

static void write_cb(png_structp png, png_bytep data, size_t n)
{
    io_ctx *c = png_get_io_ptr(png);
    if (fwrite(data, 1, n, c->fp) != n) {
        snprintf(c->why, sizeof c->why, "cannot write: %s", strerror(errno));
        png_error(png, c->why);
    }
}

static void flush_cb(png_structp png)
{
    io_ctx *c = png_get_io_ptr(png);
    if (fflush(c->fp) != 0) {
        snprintf(c->why, sizeof c->why, "cannot write: %s", strerror(errno));
        png_error(png, c->why);
    }
}

/* The libpng calls that may longjmp; kept out of encode_rgb so that no local of
 * the setjmp caller changes between setjmp and longjmp (-Wclobbered). */
static void encode_body(png_structp png, png_infop info, const uint8_t *rgb, int w, int h)
{
    /* Our pictures are flat backgrounds and digits scaled up by whole pixels,
     * so a row mostly repeats the one above: the Up filter with zlib level 3
     * encodes them about 4x faster than libpng's default (adaptive filters,
     * level 6) at a similar size (docs/pictures.md). */
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
    png_set_compression_level(png, 3);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, rgb + (size_t)y * (size_t)w * 3);
    png_write_end(png, NULL);
}

/* Encodes rgb into c->fp. Returns 0, or -1 with c->why (and c->nomem) set. */
static int encode_rgb(io_ctx *c, const uint8_t *rgb, int w, int h)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
    if (!png) {
        c->nomem = 1;
        snprintf(c->why, sizeof c->why, "out of memory");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        c->nomem = 1;
        snprintf(c->why, sizeof c->why, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, c, write_cb, flush_cb);
    encode_body(png, info, rgb, w, h);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* The process umask without changing it (umask() would race with other threads
 * creating files). Linux >= 4.7 reports it in /proc/self/status; else assume 022. */
static mode_t current_umask(void)
{
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return mask;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned m;
        if (sscanf(line, "Umask: %o", &m) == 1) {
            mask = (mode_t)(m & 0777);
            break;
        }
    }
    fclose(f);
    return mask;
}

mt_status mt_png_write_rgb(const char *path, const uint8_t *rgb, int w, int h, mt_err *err)
{
    mt_status st = MT_OK;
    io_ctx c = {0};
    char *tmp = NULL;
    int fd = -1;

    if (!path || !rgb || w < 1 || h < 1 || w > MT_PNG_MAX_WRITE_SIDE || h > MT_PNG_MAX_WRITE_SIDE)
        return mt_errf(err, MT_EARG, "%s: cannot write a %dx%d PNG (sides must be 1..%d)",
                       path ? path : "(null)", w, h, MT_PNG_MAX_WRITE_SIDE);
    if ((st = mt_file_check_target(path, err)))
        return st;

    /* tmp = "<dir>/.<base>.XXXXXX": same directory, so rename() is atomic. */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    size_t len = strlen(path);
    tmp = malloc(len + 9);
    if (!tmp) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    memcpy(tmp, path, dir_len);
    tmp[dir_len] = '.';
    memcpy(tmp + dir_len + 1, path + dir_len, len - dir_len);
    memcpy(tmp + len + 1, ".XXXXXX", 8);

    fd = mkstemp(tmp);
    if (fd < 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL; /* nothing to unlink */
        goto fail;
    }
    if (fchmod(fd, 0666 & ~current_umask()) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot set mode: %s", path, strerror(errno));
        goto fail;
    }
    c.fp = fdopen(fd, "wb");
    if (!c.fp) {
        st = mt_errf(err, MT_EIO, "%s: cannot create: %s", path, strerror(errno));
        goto fail;
    }
    fd = -1; /* now owned by c.fp */

    if (encode_rgb(&c, rgb, w, h) != 0) {
        st = c.nomem ? mt_errf(err, MT_ENOMEM, "%s: out of memory", path)
                     : mt_errf(err, MT_EIO, "%s: %s", path, c.why);
        goto fail;
    }
    if (fflush(c.fp) != 0 || fsync(fileno(c.fp)) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    FILE *fp = c.fp;
    c.fp = NULL;
    if (fclose(fp) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot write: %s", path, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot replace: %s", path, strerror(errno));
        goto fail;
    }
    /* Make the rename itself durable; best effort (some file systems refuse). */
    {
        char *dir = strndup(path, dir_len ? dir_len : 1);
        if (dir) {
            if (!dir_len)
                dir[0] = '.';
            int dfd = open(dir, O_RDONLY | O_DIRECTORY);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    free(tmp);
    (void)mt_file_sweep_tmp(path, MT_FILE_STALE_S); /* temp files of interrupted saves */
    return MT_OK;

fail:
    if (c.fp)
        fclose(c.fp);
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    return st;
}

/* ------------------------------------------------------------------------- */
/* Reading                                                                   */
/* ------------------------------------------------------------------------- */

/* fread, resumed after EINTR (a signal is the caller's business, not bad data). */
static size_t read_full(void *data, size_t n, FILE *fp)
{
    size_t got = 0;
    while (got < n) {
        got += fread((char *)data + got, 1, n - got, fp);
        if (got == n || !ferror(fp) || errno != EINTR)
            break;
        clearerr(fp);
    }
    return got;
}

static void read_cb(png_structp png, png_bytep data, size_t n)
{
    io_ctx *c = png_get_io_ptr(png);
    if (c->mem) {
        if (c->mem_n - c->mem_pos < n) {
            c->eof = 1;
            snprintf(c->why, sizeof c->why, "truncated PNG (unexpected end of file)");
            png_error(png, c->why);
        }
        memcpy(data, c->mem + c->mem_pos, n);
        c->mem_pos += n;
        return;
    }
    if (read_full(data, n, c->fp) != n) {
        if (feof(c->fp)) {
            c->eof = 1;
            snprintf(c->why, sizeof c->why, "truncated PNG (unexpected end of file)");
        } else {
            snprintf(c->why, sizeof c->why, "cannot read: %s", strerror(errno));
        }
        png_error(png, c->why);
    }
}

/* Decodes to 8-bit RGBA in c->buf; may longjmp (see encode_body for why it is separate). */
static void decode_body(png_structp png, png_infop info, io_ctx *c)
{
    png_set_read_fn(png, c, read_cb);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w > MT_PNG_MAX_SIDE || h > MT_PNG_MAX_SIDE || (uint64_t)w * h > (uint64_t)MT_PNG_MAX_PIXELS) {
        snprintf(c->why, sizeof c->why, "image is %lux%lu pixels, over the limit of %dx%d and %ld Mpixel",
                 (unsigned long)w, (unsigned long)h, MT_PNG_MAX_SIDE, MT_PNG_MAX_SIDE,
                 MT_PNG_MAX_PIXELS / (1024 * 1024));
        png_error(png, c->why);
    }

    /* Normalise every colour type and depth to 8-bit RGBA. */
    int ct = png_get_color_type(png, info);
    int has_alpha = (ct & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS);
    png_set_expand(png); /* palette -> RGB, gray 1/2/4 -> 8, tRNS -> alpha */
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
    png_set_scale_16(png);
#else
    png_set_strip_16(png);
#endif
    if (!(ct & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    if (!has_alpha)
        png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4) {
        snprintf(c->why, sizeof c->why, "unsupported pixel layout");
        png_error(png, c->why);
    }

    c->buf = malloc((size_t)w * h * 4);
    c->rows = malloc((size_t)h * sizeof *c->rows);
    if (!c->buf || !c->rows) {
        c->nomem = 1;
        snprintf(c->why, sizeof c->why, "out of memory for %lux%lu pixels", (unsigned long)w,
                 (unsigned long)h);
        png_error(png, c->why);
    }
    for (png_uint_32 y = 0; y < h; y++)
        c->rows[y] = c->buf + (size_t)y * w * 4;
    png_read_image(png, c->rows);
    png_read_end(png, NULL); /* checks the CRCs up to IEND: catches truncation after IDAT */
    c->has_alpha = has_alpha;
    c->w = w;
    c->h = h;
}

/* Returns 0 with c->buf (h, w, 4) filled, or -1 with c->why set (c->buf may be set). */
static int decode_rgba(io_ctx *c)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
    if (!png) {
        c->nomem = 1;
        snprintf(c->why, sizeof c->why, "out of memory");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        c->nomem = 1;
        snprintf(c->why, sizeof c->why, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    decode_body(png, info, c);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

/* Opens, checks the signature and decodes path to RGBA in c. */
static mt_status read_rgba(const char *path, io_ctx *c, mt_err *err)
{
    mt_status st = MT_OK;
    if (!path)
        return mt_errf(err, MT_EARG, "(null): no file name");
    if ((st = mt_file_fopen(path, NULL, MT_EDATA, &c->fp, err)))
        return st;

    png_byte sig[8];
    size_t got = read_full(sig, sizeof sig, c->fp);
    if (got != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        if (ferror(c->fp))
            st = mt_errf(err, MT_EDATA, "%s: cannot read: %s", path, strerror(errno));
        else if (got == 0)
            st = mt_errf(err, MT_EDATA, "%s: not a PNG file (empty)", path);
        else
            st = mt_errf(err, MT_EDATA, "%s: not a PNG file (bad signature)", path);
        goto fail;
    }
    if (decode_rgba(c) != 0) {
        if (c->nomem)
            st = mt_errf(err, MT_ENOMEM, "%s: %s", path, c->why);
        else if (c->eof)
            st = mt_errf(err, MT_EDATA, "%s: %s", path, c->why);
        else
            st = mt_errf(err, MT_EDATA, "%s: bad PNG: %s", path, c->why);
        goto fail;
    }
    fclose(c->fp);
    c->fp = NULL;
    free(c->rows);
    c->rows = NULL;
    return MT_OK;

fail:
    if (c->fp)
        fclose(c->fp);
    c->fp = NULL;
    free(c->rows);
    c->rows = NULL;
    free(c->buf);
    c->buf = NULL;
    return st;
}

/* v*a + 255*(255-a), divided by 255 with rounding: compositing over white. */
static uint8_t over_white(unsigned v, unsigned a)
{
    return (uint8_t)((v * a + 255u * (255u - a) + 127u) / 255u);
}

mt_status mt_png_read_gray(const char *path, uint8_t **out, int *w, int *h, mt_err *err)
{
    io_ctx c = {0};
    mt_status st = read_rgba(path, &c, err);
    if (st != MT_OK)
        return st;
    size_t n = (size_t)c.w * c.h;
    /* In place: pixel i's gray byte goes to index i <= 4i, already consumed. */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = c.buf + 4 * i;
        unsigned g = (2126u * p[0] + 7152u * p[1] + 722u * p[2] + 5000u) / 10000u;
        c.buf[i] = over_white(g, p[3]);
    }
    uint8_t *shrunk = realloc(c.buf, n);
    *out = shrunk ? shrunk : c.buf;
    *w = (int)c.w;
    *h = (int)c.h;
    return MT_OK;
}

mt_status mt_png_read_rgb(const char *path, uint8_t **out, int *w, int *h, mt_err *err)
{
    io_ctx c = {0};
    mt_status st = read_rgba(path, &c, err);
    if (st != MT_OK)
        return st;
    size_t n = (size_t)c.w * c.h;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = c.buf + 4 * i;
        uint8_t a = p[3], r = p[0], g = p[1], b = p[2];
        c.buf[3 * i + 0] = over_white(r, a);
        c.buf[3 * i + 1] = over_white(g, a);
        c.buf[3 * i + 2] = over_white(b, a);
    }
    uint8_t *shrunk = realloc(c.buf, n * 3);
    *out = shrunk ? shrunk : c.buf;
    *w = (int)c.w;
    *h = (int)c.h;
    return MT_OK;
}

mt_status mt_png_decode_gray_alpha(const uint8_t *buf, size_t n, const char *name, uint8_t **gray,
                                   uint8_t **alpha, int *w, int *h, mt_err *err)
{
    io_ctx c = {0};
    if (!buf || !name || !gray || !alpha)
        return mt_errf(err, MT_EARG, "png: bad arguments");
    if (n < 8 || png_sig_cmp(buf, 0, 8) != 0)
        return mt_errf(err, MT_EDATA, "%s: not a PNG file (bad signature)", name);
    c.mem = buf;
    c.mem_n = n;
    c.mem_pos = 8;
    if (decode_rgba(&c) != 0) {
        free(c.rows);
        free(c.buf);
        if (c.nomem)
            return mt_errf(err, MT_ENOMEM, "%s: %s", name, c.why);
        if (c.eof)
            return mt_errf(err, MT_EDATA, "%s: %s", name, c.why);
        return mt_errf(err, MT_EDATA, "%s: bad PNG: %s", name, c.why);
    }
    free(c.rows);
    size_t np = (size_t)c.w * c.h;
    uint8_t *a = NULL;
    if (c.has_alpha && !(a = malloc(np))) {
        free(c.buf);
        return mt_errf(err, MT_ENOMEM, "%s: out of memory", name);
    }
    /* In place as in mt_png_read_gray; alpha copied out first per pixel. */
    for (size_t i = 0; i < np; i++) {
        const uint8_t *p = c.buf + 4 * i;
        if (a)
            a[i] = p[3];
        c.buf[i] = (uint8_t)((2126u * p[0] + 7152u * p[1] + 722u * p[2] + 5000u) / 10000u);
    }
    uint8_t *shrunk = realloc(c.buf, np);
    *gray = shrunk ? shrunk : c.buf;
    *alpha = a;
    *w = (int)c.w;
    *h = (int)c.h;
    return MT_OK;
}
