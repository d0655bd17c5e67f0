/* mt_image: picture files of any supported kind -> gray + alpha, the kind
 * sniffed from the magic bytes (PNG: 89 50 4E 47 0D 0A 1A 0A; JPEG: FF D8 FF).
 * Decoding itself is mt_png's and mt_jpeg's; this file only reads bytes,
 * dispatches and lists folders. */
#include "mt_image.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mt_file.h"
#include "mt_jpeg.h"
#include "mt_png.h"

mt_image_kind mt_image_sniff(const uint8_t *buf, size_t n)
{
    static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };
    if (n >= 8 && memcmp(buf, png_sig, 8) == 0)
        return MT_IMAGE_PNG;
    if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        return MT_IMAGE_JPEG;
    return MT_IMAGE_UNKNOWN;
}

mt_status mt_image_decode(const uint8_t *buf, size_t n, const char *name, mt_image *img, mt_err *err)
{
    mt_image r = { 0 };
    mt_status st;
    if (!buf || !name || !img)
        return mt_errf(err, MT_EARG, "image: bad arguments");
    r.kind = mt_image_sniff(buf, n);
    if (r.kind == MT_IMAGE_PNG)
        st = mt_png_decode_gray_alpha(buf, n, name, &r.gray, &r.alpha, &r.w, &r.h, err);
    else if (r.kind == MT_IMAGE_JPEG)
        st = mt_jpeg_decode_gray(buf, n, name, &r.gray, &r.w, &r.h, err);
    else if (n == 0)
        return mt_errf(err, MT_EDATA, "%s: not a PNG or JPEG file (empty)", name);
    else
        return mt_errf(err, MT_EDATA, "%s: not a PNG or JPEG file (bad signature)", name);
    if (st == MT_OK)
        *img = r;
    return st;
}

mt_status mt_image_read_fp(FILE *fp, const char *name, mt_image *img, mt_err *err)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    mt_status st = MT_OK;
    if (!buf)
        return mt_errf(err, MT_ENOMEM, "%s: out of memory", name);
    for (;;) {
        if (n == cap) {
            if (cap >= (size_t)MT_IMAGE_MAX_BYTES) {
                st = mt_errf(err, MT_EDATA, "%s: file over %ld MiB", name, MT_IMAGE_MAX_BYTES >> 20);
                goto done;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                st = mt_errf(err, MT_ENOMEM, "%s: out of memory", name);
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp)) {
                st = mt_errf(err, MT_EDATA, "%s: cannot read: %s", name, strerror(errno));
                goto done;
            }
            break;
        }
    }
    st = mt_image_decode(buf, n, name, img, err);
done:
    free(buf);
    return st;
}

mt_status mt_image_read(const char *path, mt_image *img, mt_err *err)
{
    FILE *fp = NULL;
    mt_status st = mt_file_fopen(path, NULL, MT_EDATA, &fp, err); /* regular files only: a FIFO never blocks */
    if (st)
        return st;
    st = mt_image_read_fp(fp, path, img, err);
    fclose(fp);
    return st;
}

void mt_image_free(mt_image *img)
{
    if (!img)
        return;
    free(img->gray);
    free(img->alpha);
    memset(img, 0, sizeof *img);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 when path is a regular file that starts like a PNG or JPEG. */
static int is_picture(const char *path)
{
    struct stat sb;
    uint8_t head[8];
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    return mt_image_sniff(head, got) != MT_IMAGE_UNKNOWN;
}

void mt_image_paths_free(char **paths, int n)
{
    for (int i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

mt_status mt_image_list_dir(const char *dir, char ***paths, int *n, mt_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return mt_errf(err, MT_EDATA, "%s: cannot open folder: %s", dir, strerror(errno));
    char **list = NULL;
    int cnt = 0, cap = 0;
    mt_status st = MT_OK;
    const size_t dl = strlen(dir);
    const int slash = dl > 0 && dir[dl - 1] == '/';
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        size_t len = dl + 1 + strlen(de->d_name) + 1;
        char *p = malloc(len);
        if (!p) {
            st = mt_errf(err, MT_ENOMEM, "%s: out of memory", dir);
            goto fail;
        }
        snprintf(p, len, "%s%s%s", dir, slash ? "" : "/", de->d_name);
        if (!is_picture(p)) {
            free(p);
            continue;
        }
        if (cnt == cap) {
            int nc = cap ? 2 * cap : 16;
            char **nl = realloc(list, (size_t)nc * sizeof *nl);
            if (!nl) {
                free(p);
                st = mt_errf(err, MT_ENOMEM, "%s: out of memory", dir);
                goto fail;
            }
            list = nl;
            cap = nc;
        }
        list[cnt++] = p;
    }
    closedir(d);
    if (cnt > 1)
        qsort(list, (size_t)cnt, sizeof *list, cmp_str);
    *paths = list;
    *n = cnt;
    return MT_OK;
fail:
    closedir(d);
    mt_image_paths_free(list, cnt);
    return st;
}
