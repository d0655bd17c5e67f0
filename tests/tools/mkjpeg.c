/* mkjpeg: test helper -- re-encodes pictures as JPEG with libjpeg, so the
 * tests make their own JPEG fixtures (Python has no encoder here).
 *   mkjpeg QUALITY IN.png OUT.jpg   (gray, or RGB when IN has colour: -rgb) */
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

#include "mt_png.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mkjpeg QUALITY IN.png OUT.jpg\n");
        return 2;
    }
    mt_err err = { 0 };
    uint8_t *rgb = NULL;
    int w, h;
    if (mt_png_read_rgb(argv[2], &rgb, &w, &h, &err)) {
        fprintf(stderr, "mkjpeg: %s\n", err.msg);
        return 1;
    }
    FILE *fp = fopen(argv[3], "wb");
    if (!fp) {
        perror(argv[3]);
        return 1;
    }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr je;
    c.err = jpeg_std_error(&je);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, fp);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, atoi(argv[1]), TRUE);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; y++) {
        JSAMPROW row = rgb + (size_t)y * w * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(rgb);
    return fclose(fp) != 0;
}
