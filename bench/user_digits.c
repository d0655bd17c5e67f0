/* user_digits: measures predict's picture pipeline (mt_image + mt_prep_picture
 * + the MLP) on a folder of user-style digit pictures named "<label>_*", such
 * as tests/make_user_digits.py writes, and converts PNGs to JPEG for such sets.
 *   user_digits jpeg QUALITY FILE.png...   writes FILE.jpg (gray) for each, removes FILE.png
 *   user_digits score MODEL DIR [SHOWDIR]  accuracy overall and per style (the name's
 *                                          last "_" part); SHOWDIR gets each 28x28 input (PNG, x8);
 *                                          USER_DIGITS_PLAIN=1: mt_prep_digit instead, to compare
 * Not a test: it reports, the acceptance number goes to docs/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "mt_ckpt.h"
#include "mt_data.h"
#include "mt_image.h"
#include "mt_png.h"
#include "mt_prep.h"

static int to_jpeg(const char *png, int q)
{
    mt_err err = { 0 };
    mt_image im = { 0 };
    if (mt_image_read(png, &im, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char out[4096];
    snprintf(out, sizeof out, "%.*s.jpg", (int)(strlen(png) - 4), png);
    FILE *fp = fopen(out, "wb");
    if (!fp) {
        mt_image_free(&im);
        return 1;
    }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr je;
    c.err = jpeg_std_error(&je);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, fp);
    c.image_width = (JDIMENSION)im.w;
    c.image_height = (JDIMENSION)im.h;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, q, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < im.h; y++) {
        JSAMPROW row = im.gray + (size_t)y * im.w;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(fp);
    mt_image_free(&im);
    return remove(png) != 0;
}

#define MAX_STYLES 32

/* The plain MNIST preparation of mt_prep_digit on alpha composited over
 * white, for comparison (USER_DIGITS_PLAIN=1). */
static mt_status prep_plain(uint8_t *img, mt_image *im, mt_prep_info *info, mt_err *err)
{
    if (im->alpha)
        for (size_t i = 0; i < (size_t)im->w * im->h; i++)
            im->gray[i] = (uint8_t)((im->gray[i] * im->alpha[i] + 255u * (255u - im->alpha[i]) + 127u) / 255u);
    memset(info, 0, sizeof *info);
    return mt_prep_digit(img, 28, 28, im->gray, im->w, im->h, info, err);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "jpeg")) {
        int q = atoi(argv[2]), bad = 0;
        for (int i = 3; i < argc; i++)
            bad |= to_jpeg(argv[i], q);
        return bad;
    }
    if (argc < 4 || strcmp(argv[1], "score")) {
        fprintf(stderr, "usage: user_digits jpeg Q FILE.png... | score MODEL DIR [SHOWDIR]\n");
        return 2;
    }
    const int plain = getenv("USER_DIGITS_PLAIN") && !strcmp(getenv("USER_DIGITS_PLAIN"), "1");
    mt_err err = { 0 };
    mt_ckpt ck = { 0 };
    mt_mlp m = { 0 };
    mt_mlp_work w = { 0 };
    const mt_kern *k = NULL;
    char **paths = NULL;
    int n = 0;
    if (mt_ckpt_load(argv[2], &ck, &err) || mt_ckpt_model(&ck, &m, &err) ||
        mt_mlp_work_init(&w, &m, 1, &err) || mt_kern_select(&k, MT_ISA_AUTO, &err) ||
        mt_image_list_dir(argv[3], &paths, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char styles[MAX_STYLES][32];
    int ns = 0, right[MAX_STYLES] = { 0 }, total[MAX_STYLES] = { 0 }, all_right = 0, unsure = 0, unsure_wrong = 0;
    float scale, shift;
    mt_norm_affine(&scale, &shift, ck.mean, ck.std);
    for (int f = 0; f < n; f++) {
        const char *base = strrchr(paths[f], '/') ? strrchr(paths[f], '/') + 1 : paths[f];
        const char *us = strrchr(base, '_'), *dot = strrchr(base, '.');
        char style[32];
        snprintf(style, sizeof style, "%.*s", us && dot > us ? (int)(dot - us - 1) : 1, us ? us + 1 : "?");
        if (dot && !strcmp(dot, ".jpg"))
            snprintf(style, sizeof style, "jpeg");
        int s = 0;
        while (s < ns && strcmp(styles[s], style))
            s++;
        if (s == ns && ns < MAX_STYLES)
            snprintf(styles[ns++], sizeof styles[0], "%s", style);
        mt_image im = { 0 };
        uint8_t img[28 * 28];
        mt_prep_info info;
        int pred = -1;
        double top = 0;
        if (mt_image_read(paths[f], &im, &err) ||
            (plain ? prep_plain(img, &im, &info, &err)
                   : mt_prep_picture(img, 28, 28, im.gray, im.alpha, im.w, im.h, &info, &err))) {
            printf("%s: %s\n", paths[f], err.msg);
        } else {
            k->u8_to_f32(w.act[0], img, 784, scale, shift);
            mt_mlp_forward(&m, &w, 1, k);
            const float *z = w.act[m.n_layers];
            double mx = z[0], sum = 0;
            for (int c = 0; c < 10; c++)
                mx = z[c] > mx ? z[c] : mx;
            for (int c = 0; c < 10; c++) {
                sum += exp(z[c] - mx);
                if (pred < 0 || z[c] > z[pred])
                    pred = c;
            }
            top = 1.0 / sum;
            if (argc > 4) {
                uint8_t rgb[224 * 224 * 3];
                for (int y = 0; y < 224; y++)
                    for (int x = 0; x < 224; x++)
                        memset(rgb + 3 * (y * 224 + x), img[(y / 8) * 28 + x / 8], 3);
                char out[4096];
                snprintf(out, sizeof out, "%s/%s", argv[4], base);
                mt_png_write_rgb(out, rgb, 224, 224, &err);
            }
        }
        int ok = pred == base[0] - '0';
        int u = pred >= 0 && mt_prep_unsure(&info, top, MT_PREP_MIN_PROB);
        unsure += u;
        unsure_wrong += u && !ok;
        if (!ok)
            printf("wrong: %s -> %d (%.2f)%s\n", base, pred, top, u ? " unsure" : "");
        right[s] += ok;
        total[s]++;
        all_right += ok;
        mt_image_free(&im);
    }
    for (int s = 0; s < ns; s++)
        printf("%-12s %4d/%-4d %6.2f %%\n", styles[s], right[s], total[s], 100.0 * right[s] / total[s]);
    printf("%-12s %4d/%-4d %6.2f %%   (flagged unsure: %d, of them wrong: %d)\n", "all", all_right, n,
           n ? 100.0 * all_right / n : 0.0, unsure, unsure_wrong);
    mt_image_paths_free(paths, n);
    mt_mlp_work_free(&w);
    mt_mlp_free(&m);
    mt_ckpt_free(&ck);
    return 0;
}
