/* mt_st: safetensors reader and writer (format: README of
 * https://github.com/huggingface/safetensors; limits follow its Rust loader).
 * The reader treats the file as untrusted: every length, offset and shape is
 * checked before it is used.  It does not mmap, convert dtypes or know the model. */
#include "mt_st.h"
#include "mt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "F32/F64 need IEEE-754 sizes");

/* JSON numbers are doubles in cJSON; integers above 2^53 would be rounded. */
#define JSON_INT_MAX 9007199254740992.0 /* 2^53 */

static const struct { const char *name; size_t size; } dtypes[MT_ST_N_DTYPES] = {
    [MT_ST_BOOL] = {"BOOL", 1}, [MT_ST_U8] = {"U8", 1}, [MT_ST_I8] = {"I8", 1},
    [MT_ST_F8_E5M2] = {"F8_E5M2", 1}, [MT_ST_F8_E4M3] = {"F8_E4M3", 1},
    [MT_ST_I16] = {"I16", 2}, [MT_ST_U16] = {"U16", 2}, [MT_ST_F16] = {"F16", 2},
    [MT_ST_BF16] = {"BF16", 2}, [MT_ST_I32] = {"I32", 4}, [MT_ST_U32] = {"U32", 4},
    [MT_ST_F32] = {"F32", 4}, [MT_ST_I64] = {"I64", 8}, [MT_ST_U64] = {"U64", 8},
    [MT_ST_F64] = {"F64", 8},
};

const char *mt_st_dtype_name(mt_st_dtype dtype)
{
    return (unsigned)dtype < MT_ST_N_DTYPES ? dtypes[dtype].name : "?";
}

size_t mt_st_dtype_size(mt_st_dtype dtype)
{
    return (unsigned)dtype < MT_ST_N_DTYPES ? dtypes[dtype].size : 0;
}

/* ======================================================================== */
/* Shared helpers                                                           */
/* ======================================================================== */

static int host_is_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Reverses each esize-byte element in place (file order <-> big-endian host). */
static void swap_elems(unsigned char *p, size_t nbytes, size_t esize)
{
    if (esize < 2)
        return;
    for (size_t i = 0; i + esize <= nbytes; i += esize)
        for (size_t a = i, b = i + esize - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Byte size of a tensor; 0 on success, -1 when it overflows size_t or 2^53
 * (the largest offset a JSON number can carry exactly).  Multiplied in order,
 * as the reference does, so [0, huge, huge] is rejected too. */
static int tensor_nbytes(size_t *nbytes, mt_st_dtype dtype, const size_t *shape, int ndim)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && n > SIZE_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    size_t es = dtypes[dtype].size;
    if (n > SIZE_MAX / es || (double)(n * es) > JSON_INT_MAX)
        return -1;
    *nbytes = n * es;
    return 0;
}

/* "[128, 784]" into buf (truncated to fit cap). */
static const char *fmt_shape(char *buf, size_t cap, const size_t *shape, int ndim)
{
    size_t len = 0;
    int n = snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n >= 0 && (len += (size_t)n) < cap; i++)
        n = snprintf(buf + len, cap - len, "%s%zu", i ? ", " : "", shape[i]);
    if (n >= 0 && (len += (size_t)n) < cap)
        snprintf(buf + len, cap - len, "]");
    return buf;
}

/* Length of the valid UTF-8 prefix of s[0..n) (== n when all of it is valid):
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629).  JSON
 * text must be UTF-8, and the reference loader rejects anything else. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;      /* overlong */
            if (c == 0xED) hi = 0x9F;      /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;      /* overlong */
            if (c == 0xF4) hi = 0x8F;      /* > U+10FFFF */
        } else {
            return i;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += len;
    }
    return n;
}

static int utf8_ok(const char *s)
{
    size_t n = strlen(s);
    return utf8_valid_prefix((const unsigned char *)s, n) == n;
}

/* ======================================================================== */
/* Writer                                                                   */
/* ======================================================================== */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n >= SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_putu(sbuf *b, size_t v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%zu", v);
    sb_putn(b, t, (size_t)n);
}

/* s as a JSON string literal; bytes >= 0x80 pass through (UTF-8 is assumed). */
static void sb_putstr(sbuf *b, const char *s)
{
    sb_putn(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char t[8];
        if (*p == '"' || *p == '\\') {
            t[0] = '\\';
            t[1] = (char)*p;
            sb_putn(b, t, 2);
        } else if (*p < 0x20) {
            snprintf(t, sizeof t, "\\u%04x", *p);
            sb_putn(b, t, 6);
        } else {
            sb_putn(b, (const char *)p, 1);
        }
    }
    sb_putn(b, "\"", 1);
}

/* Writes n bytes in file (little-endian) order; swaps through a bounce buffer
 * on a big-endian host so the caller's data stays untouched. */
static int write_data(FILE *fp, const void *data, size_t n, size_t esize)
{
    if (n == 0)
        return 0;
    if (host_is_le() || esize < 2)
        return fwrite(data, 1, n, fp) == n ? 0 : -1;
    unsigned char chunk[1 << 14];
    const unsigned char *p = data;
    while (n) {
        size_t k = n < sizeof chunk ? n : sizeof chunk; /* a multiple of esize */
        memcpy(chunk, p, k);
        swap_elems(chunk, k, esize);
        if (fwrite(chunk, 1, k, fp) != k)
            return -1;
        p += k;
        n -= k;
    }
    return 0;
}

/* fsync the directory holding path so the rename itself is durable. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else if ((dir = malloc((size_t)(slash - path) + 1)) != NULL) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the file itself is already synced */
        close(fd);
    }
    free(dir);
}

/* Checks the caller's list; MT_EARG names the first bad entry. */
static mt_status check_write_args(const char *path, const mt_st_tensor *tensors, size_t n_tensors,
                                  const mt_st_meta *meta, size_t n_meta, mt_err *err)
{
    if ((n_tensors && !tensors) || (n_meta && !meta))
        return mt_errf(err, MT_EARG, "%s: tensor or metadata list is NULL", path);
    size_t total = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        const mt_st_tensor *t = &tensors[i];
        size_t nb;
        if (!t->name)
            return mt_errf(err, MT_EARG, "%s: tensor #%zu has no name", path, i);
        if (!utf8_ok(t->name))
            return mt_errf(err, MT_EARG, "%s: tensor #%zu: name is not valid UTF-8", path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return mt_errf(err, MT_EARG, "%s: tensor name '__metadata__' is reserved", path);
        if ((unsigned)t->dtype >= MT_ST_N_DTYPES)
            return mt_errf(err, MT_EARG, "%s: tensor '%s': invalid dtype %d", path, t->name,
                           (int)t->dtype);
        if (t->ndim < 0 || t->ndim > MT_ST_MAX_DIMS)
            return mt_errf(err, MT_EARG, "%s: tensor '%s': ndim %d (expected 0..%d)", path,
                           t->name, t->ndim, MT_ST_MAX_DIMS);
        if (tensor_nbytes(&nb, t->dtype, t->shape, t->ndim) != 0 || nb > JSON_INT_MAX - total)
            return mt_errf(err, MT_EARG, "%s: tensor '%s': size overflows", path, t->name);
        if (nb && !t->data)
            return mt_errf(err, MT_EARG, "%s: tensor '%s': data is NULL", path, t->name);
        total += nb;
        for (size_t j = 0; j < i; j++)
            if (strcmp(tensors[j].name, t->name) == 0)
                return mt_errf(err, MT_EARG, "%s: tensor '%s' appears twice", path, t->name);
    }
    for (size_t i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return mt_errf(err, MT_EARG, "%s: metadata #%zu has a NULL key or value", path, i);
        if (!utf8_ok(meta[i].key) || !utf8_ok(meta[i].value))
            return mt_errf(err, MT_EARG, "%s: metadata #%zu is not valid UTF-8", path, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(meta[j].key, meta[i].key) == 0)
                return mt_errf(err, MT_EARG, "%s: metadata key '%s' appears twice", path,
                               meta[i].key);
    }
    return MT_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. */
static void build_header(sbuf *h, const mt_st_tensor *tensors, size_t n_tensors,
                         const mt_st_meta *meta, size_t n_meta)
{
    sb_puts(h, "{");
    if (n_meta) {
        sb_puts(h, "\"__metadata__\":{");
        for (size_t i = 0; i < n_meta; i++) {
            if (i)
                sb_puts(h, ",");
            sb_putstr(h, meta[i].key);
            sb_puts(h, ":");
            sb_putstr(h, meta[i].value);
        }
        sb_puts(h, "}");
    }
    size_t off = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        const mt_st_tensor *t = &tensors[i];
        size_t nb = 0;
        (void)tensor_nbytes(&nb, t->dtype, t->shape, t->ndim); /* checked already */
        if (i || n_meta)
            sb_puts(h, ",");
        sb_putstr(h, t->name);
        sb_puts(h, ":{\"dtype\":");
        sb_putstr(h, dtypes[t->dtype].name);
        sb_puts(h, ",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d)
                sb_puts(h, ",");
            sb_putu(h, t->shape[d]);
        }
        sb_puts(h, "],\"data_offsets\":[");
        sb_putu(h, off);
        sb_puts(h, ",");
        sb_putu(h, off + nb);
        sb_puts(h, "]}");
        off += nb;
    }
    sb_puts(h, "}");
    while (!h->oom && h->len % 8)
        sb_puts(h, " ");
}

mt_status mt_st_write(const char *path, const mt_st_tensor *tensors, size_t n_tensors,
                      const mt_st_meta *meta, size_t n_meta, mt_err *err)
{
    mt_status st = MT_OK;
    sbuf hdr = {0};
    char *tmp = NULL;
    int fd = -1, created = 0;
    FILE *fp = NULL;

    if (!path)
        return mt_errf(err, MT_EARG, "mt_st_write: path is NULL");
    if ((st = check_write_args(path, tensors, n_tensors, meta, n_meta, err)) != MT_OK ||
        (st = mt_file_check_target(path, err)) != MT_OK)
        return st;

    build_header(&hdr, tensors, n_tensors, meta, n_meta);
    if (hdr.oom || hdr.len > MT_ST_MAX_HEADER) {
        st = hdr.oom ? mt_errf(err, MT_ENOMEM, "%s: out of memory building the header", path)
                     : mt_errf(err, MT_EARG, "%s: header would be %zu bytes (limit %u)", path,
                               hdr.len, MT_ST_MAX_HEADER);
        goto fail;
    }

    size_t plen = strlen(path);
    if (!(tmp = malloc(plen + sizeof ".tmpXXXXXX"))) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmpXXXXXX", sizeof ".tmpXXXXXX");
    if ((fd = mkstemp(tmp)) < 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot create a temporary file next to it: %s", path,
                     strerror(errno));
        goto fail;
    }
    created = 1;
    /* mkstemp makes 0600; keep the mode of the file being replaced, else 0644. */
    struct stat sb;
    mode_t mode = (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) ? (sb.st_mode & 0777) : 0644;
    if (fchmod(fd, mode) != 0 || !(fp = fdopen(fd, "wb"))) {
        st = mt_errf(err, MT_EIO, "%s: cannot prepare temporary file %s: %s", path, tmp,
                     strerror(errno));
        goto fail;
    }
    fd = -1; /* now owned by fp */

    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hdr.len >> (8 * i));
    int bad = fwrite(len8, 1, 8, fp) != 8 || fwrite(hdr.p, 1, hdr.len, fp) != hdr.len;
    for (size_t i = 0; i < n_tensors && !bad; i++) {
        size_t nb = 0;
        (void)tensor_nbytes(&nb, tensors[i].dtype, tensors[i].shape, tensors[i].ndim);
        bad = write_data(fp, tensors[i].data, nb, dtypes[tensors[i].dtype].size) != 0;
    }
    if (bad || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot write temporary file %s: %s", path, tmp,
                     strerror(errno));
        goto fail;
    }
    int rc = fclose(fp);
    fp = NULL;
    if (rc != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot close temporary file %s: %s", path, tmp,
                     strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot rename temporary file over it: %s", path,
                     strerror(errno));
        goto fail;
    }
    created = 0;
    sync_parent_dir(path);
    (void)mt_file_sweep_tmp(path, MT_FILE_STALE_S); /* temp files of interrupted saves */

fail:
    if (fp)
        fclose(fp);
    else if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    free(hdr.p);
    return st;
}

/* ======================================================================== */
/* Reader                                                                   */
/* ======================================================================== */

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static const char *json_kind(const cJSON *j)
{
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsArray(j))  return "an array";
    if (cJSON_IsObject(j)) return "an object";
    if (cJSON_IsBool(j))   return "a boolean";
    if (cJSON_IsNull(j))   return "null";
    return "invalid";
}

/* A non-negative integer below 2^53 (exactly representable), else -1. */
static int json_uint(const cJSON *j, size_t *v)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double d = j->valuedouble;
    if (!(d >= 0.0 && d <= JSON_INT_MAX)) /* also rejects NaN */
        return -1;
    uint64_t u = (uint64_t)d;
    if ((double)u != d || u > SIZE_MAX)
        return -1;
    *v = (size_t)u;
    return 0;
}

/* "a number (1.5)" / "a string" ... for messages about a bad integer. */
static const char *describe(char *buf, size_t cap, const cJSON *j)
{
    if (cJSON_IsNumber(j))
        snprintf(buf, cap, "%.17g", j->valuedouble);
    else
        snprintf(buf, cap, "%s", json_kind(j));
    return buf;
}

typedef struct {
    size_t begin, end; /* byte offsets in the data area */
    size_t idx;        /* index into tensors */
} span;

/* Validates one tensor entry and fills t (except name/data) and sp. */
static mt_status parse_entry(mt_st_tensor *t, span *sp, const cJSON *e, const char *file,
                             const char *tname, size_t dsize, mt_err *err)
{
    const cJSON *jd = NULL, *js = NULL, *jo = NULL;
    char a[48], b[48], sh[160], a48[MT_ESC_CAP];

    if (!cJSON_IsObject(e))
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': entry is %s (expected an object "
                       "with dtype, shape, data_offsets)", file, tname, json_kind(e));
    for (const cJSON *f = e->child; f; f = f->next) {
        const cJSON **slot = strcmp(f->string, "dtype") == 0 ? &jd
                           : strcmp(f->string, "shape") == 0 ? &js
                           : strcmp(f->string, "data_offsets") == 0 ? &jo : NULL;
        if (!slot)
            continue; /* unknown keys are ignored, as serde does */
        if (*slot)
            return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': field '%s' appears twice", file,
                           tname, f->string); /* a known field name */
        *slot = f;
    }
    if (!jd || !js || !jo)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': missing field '%s'", file, tname,
                       !jd ? "dtype" : !js ? "shape" : "data_offsets");

    if (!cJSON_IsString(jd))
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': dtype is %s (expected a string)",
                       file, tname, json_kind(jd));
    int dt = -1;
    for (int i = 0; i < MT_ST_N_DTYPES; i++)
        if (strcmp(jd->valuestring, dtypes[i].name) == 0)
            dt = i;
    if (dt < 0)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': unknown dtype '%.32s' (expected "
                       "F32, F64, I64, U8, ...)", file, tname, mt_esc(a48, jd->valuestring));
    t->dtype = (mt_st_dtype)dt;

    if (!cJSON_IsArray(js))
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': shape is %s (expected an array)",
                       file, tname, json_kind(js));
    int ndim = cJSON_GetArraySize(js);
    if (ndim > MT_ST_MAX_DIMS)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': shape has %d dimensions (at most "
                       "%d supported)", file, tname, ndim, MT_ST_MAX_DIMS);
    t->ndim = ndim;
    int d = 0;
    for (const cJSON *x = js->child; x; x = x->next, d++)
        if (json_uint(x, &t->shape[d]) != 0)
            return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': shape[%d] is %s (expected a "
                           "non-negative integer)", file, tname, d, describe(a, sizeof a, x));
    if (tensor_nbytes(&t->nbytes, t->dtype, t->shape, t->ndim) != 0)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': shape %s of %s is too large (byte "
                       "size overflows)", file, tname, fmt_shape(sh, sizeof sh, t->shape, ndim),
                       dtypes[dt].name);

    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': data_offsets is %s%s (expected "
                       "[begin, end])", file, tname, json_kind(jo),
                       cJSON_IsArray(jo) ? " of the wrong length" : "");
    if (json_uint(jo->child, &sp->begin) != 0 || json_uint(jo->child->next, &sp->end) != 0)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': data_offsets [%s, %s] (expected "
                       "two non-negative integers)", file, tname,
                       describe(a, sizeof a, jo->child), describe(b, sizeof b, jo->child->next));
    if (sp->begin > sp->end)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': data_offsets [%zu, %zu] begin > "
                       "end", file, tname, sp->begin, sp->end);
    if (sp->end > dsize)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': data_offsets [%zu, %zu] out of "
                       "range (data area is %zu bytes)", file, tname, sp->begin, sp->end, dsize);
    if (sp->end - sp->begin != t->nbytes)
        return mt_errf(err, MT_EDATA, "%s: tensor '%.100s': data_offsets [%zu, %zu] span %zu "
                       "bytes, but shape %s of %s needs %zu", file, tname, sp->begin, sp->end,
                       sp->end - sp->begin, fmt_shape(sh, sizeof sh, t->shape, ndim),
                       dtypes[dt].name, t->nbytes);
    return MT_OK;
}

static int cmp_span(const void *pa, const void *pb)
{
    const span *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return 0;
}

static int cmp_str(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* The first name that appears twice in names[0..n) (sorted in place), or NULL. */
static const char *find_duplicate(const char **names, size_t n)
{
    if (n < 2)
        return NULL;
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

static char *pool_add(char **pool, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = memcpy(*pool, s, n);
    *pool += n;
    return p;
}

/* Parses file[0..size) (file = base + pad, the data area 8-aligned in base).
 * Takes ownership of base: it ends up in *out or is freed. */
static mt_status parse_owned(mt_st *out, unsigned char *base, size_t pad, size_t size,
                             const char *name, mt_err *err)
{
    mt_status st = MT_OK;
    mt_st r = {0};
    char *hcopy = NULL;
    cJSON *root = NULL;
    span *spans = NULL;
    const char **names = NULL;
    const unsigned char *file = base + pad;
    const cJSON *jmeta = NULL;

    r.buf = base;
    if (!(r.path = strdup(name))) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    if (size < 8) {
        st = mt_errf(err, MT_EDATA, "%s: file is %zu bytes, too short for the 8-byte header "
                     "length", name, size);
        goto fail;
    }
    uint64_t n64 = le64(file);
    if (n64 > MT_ST_MAX_HEADER) {
        st = mt_errf(err, MT_EDATA, "%s: header length %" PRIu64 " is too large (limit %u "
                     "bytes)", name, n64, MT_ST_MAX_HEADER);
        goto fail;
    }
    if (n64 > size - 8) {
        st = mt_errf(err, MT_EDATA, "%s: header length %" PRIu64 " exceeds the file (only %zu "
                     "bytes follow the length field)", name, n64, size - 8);
        goto fail;
    }
    size_t hlen = (size_t)n64, dsize = size - 8 - hlen;
    const unsigned char *hdr = file + 8, *data = file + 8 + hlen;

    /* JSON forbids raw control characters; rejecting NUL also lets cJSON run
     * on a NUL-terminated copy without cutting the header short. */
    if (hlen == 0 || hdr[0] != '{') {
        char found[32] = "an empty header";
        if (hlen)
            snprintf(found, sizeof found, hdr[0] > 0x20 && hdr[0] < 0x7f ? "'%c'" : "byte 0x%02x",
                     hdr[0]);
        st = mt_errf(err, MT_EDATA, "%s: header is not a JSON object (expected '{' at byte 8, "
                     "found %s)", name, found);
        goto fail;
    }
    for (size_t i = 0; i < hlen; i++)
        if (hdr[i] < 0x20 && hdr[i] != '\t' && hdr[i] != '\n' && hdr[i] != '\r') {
            st = mt_errf(err, MT_EDATA, "%s: header byte %zu is control character 0x%02x "
                         "(expected JSON text)", name, i, hdr[i]);
            goto fail;
        }
    size_t valid = utf8_valid_prefix(hdr, hlen);
    if (valid != hlen) {
        st = mt_errf(err, MT_EDATA, "%s: header byte %zu (0x%02x) is not valid UTF-8", name,
                     valid, hdr[valid]);
        goto fail;
    }
    if (!(hcopy = malloc(hlen + 1))) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory for a %zu-byte header", name, hlen);
        goto fail;
    }
    memcpy(hcopy, hdr, hlen);
    hcopy[hlen] = '\0';
    const char *end = NULL;
    if (!(root = cJSON_ParseWithOpts(hcopy, &end, 0))) {
        st = mt_errf(err, MT_EDATA, "%s: header is not valid JSON (error near header byte %zu)",
                     name, end ? (size_t)(end - hcopy) : (size_t)0);
        goto fail;
    }
    for (const char *p = end; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = mt_errf(err, MT_EDATA, "%s: header has data after the JSON object (at header "
                         "byte %zu; expected only space padding)", name, (size_t)(p - hcopy));
            goto fail;
        }
    if (!cJSON_IsObject(root)) {
        st = mt_errf(err, MT_EDATA, "%s: header is %s (expected a JSON object)", name,
                     json_kind(root));
        goto fail;
    }

    /* Pass 1: count entries, check metadata, size the string pool. */
    size_t pool = 1, n_t = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0) {
            n_t++;
            pool += strlen(c->string) + 1;
            continue;
        }
        if (jmeta) {
            st = mt_errf(err, MT_EDATA, "%s: '__metadata__' appears twice", name);
            goto fail;
        }
        jmeta = c;
        if (!cJSON_IsObject(c)) {
            st = mt_errf(err, MT_EDATA, "%s: __metadata__ is %s (expected an object of "
                         "strings)", name, json_kind(c));
            goto fail;
        }
        for (const cJSON *m = c->child; m; m = m->next) {
            if (!cJSON_IsString(m)) {
                char ek[MT_ESC_CAP];
                st = mt_errf(err, MT_EDATA, "%s: metadata '%.100s' is %s (expected a string)",
                             name, mt_esc(ek, m->string), json_kind(m));
                goto fail;
            }
            pool += strlen(m->string) + strlen(m->valuestring) + 2;
            r.n_meta++;
        }
    }
    r.n_tensors = n_t;
    size_t n_names = n_t > r.n_meta ? n_t : r.n_meta;
    r.tensors = calloc(n_t ? n_t : 1, sizeof *r.tensors);
    r.meta = calloc(r.n_meta ? r.n_meta : 1, sizeof *r.meta);
    r.strings = malloc(pool);
    spans = calloc(n_t ? n_t : 1, sizeof *spans);
    names = calloc(n_names ? n_names : 1, sizeof *names);
    if (!r.tensors || !r.meta || !r.strings || !spans || !names) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu tensors", name, n_t);
        goto fail;
    }

    /* Pass 2: validate and fill. */
    char *sp = r.strings;
    size_t it = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == jmeta)
            continue;
        mt_st_tensor *t = &r.tensors[it];
        char ename[MT_ESC_CAP]; /* names come from the file: shown escaped */
        if ((st = parse_entry(t, &spans[it], c, name, mt_esc(ename, c->string), dsize, err)) != MT_OK)
            goto fail;
        t->name = pool_add(&sp, c->string);
        t->data = data + spans[it].begin;
        spans[it].idx = it;
        names[it] = t->name;
        it++;
    }
    char e1[MT_ESC_CAP], e2[MT_ESC_CAP]; /* names from the file, escaped for messages */
    const char *dup = find_duplicate(names, n_t);
    if (dup) {
        st = mt_errf(err, MT_EDATA, "%s: tensor '%.100s' appears twice in the header", name, mt_esc(e1, dup));
        goto fail;
    }
    size_t im = 0;
    for (const cJSON *m = jmeta ? jmeta->child : NULL; m; m = m->next, im++) {
        r.meta[im].key = pool_add(&sp, m->string);
        r.meta[im].value = pool_add(&sp, m->valuestring);
        names[im] = r.meta[im].key;
    }
    if ((dup = find_duplicate(names, r.n_meta)) != NULL) {
        st = mt_errf(err, MT_EDATA, "%s: metadata key '%.100s' appears twice", name, mt_esc(e1, dup));
        goto fail;
    }

    /* The tensors, sorted by offset, must tile the data area exactly. */
    qsort(spans, n_t, sizeof *spans, cmp_span);
    size_t pos = 0;
    for (size_t i = 0; i < n_t; i++) {
        const span *s = &spans[i];
        if (s->begin < pos) {
            st = mt_errf(err, MT_EDATA, "%s: tensor '%.100s' at [%zu, %zu] overlaps tensor "
                         "'%.100s' (which ends at %zu)", name, mt_esc(e1, r.tensors[s->idx].name), s->begin,
                         s->end, mt_esc(e2, r.tensors[spans[i - 1].idx].name), pos);
            goto fail;
        }
        if (s->begin > pos) {
            st = mt_errf(err, MT_EDATA, "%s: hole in the data area: bytes [%zu, %zu) belong to "
                         "no tensor (next tensor '%.100s' starts at %zu)", name, pos, s->begin,
                         mt_esc(e1, r.tensors[s->idx].name), s->begin);
            goto fail;
        }
        pos = s->end;
    }
    if (pos != dsize) {
        st = mt_errf(err, MT_EDATA, "%s: %zu trailing bytes in the data area belong to no "
                     "tensor (tensors end at %zu, data area is %zu bytes)", name, dsize - pos,
                     pos, dsize);
        goto fail;
    }

    if (!host_is_le())
        for (size_t i = 0; i < n_t; i++)
            swap_elems((unsigned char *)r.tensors[i].data, r.tensors[i].nbytes,
                       dtypes[r.tensors[i].dtype].size);

    *out = r;
    r = (mt_st){0};

fail:
    mt_st_free(&r);
    cJSON_Delete(root);
    free(hcopy);
    free(spans);
    free(names);
    return st;
}

mt_status mt_st_parse(const void *bytes, size_t n, const char *name, mt_st *out, mt_err *err)
{
    unsigned char lenbuf[8] = {0};
    size_t pad = 0;
    if (n >= 8) {
        memcpy(lenbuf, bytes, 8);
        pad = (size_t)((8 - (8 + le64(lenbuf)) % 8) % 8);
    }
    if (n > SIZE_MAX - pad)
        return mt_errf(err, MT_ENOMEM, "%s: too large", name);
    unsigned char *base = malloc(n + pad ? n + pad : 1);
    if (!base)
        return mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", name, n);
    if (n)
        memcpy(base + pad, bytes, n);
    return parse_owned(out, base, pad, n, name, err);
}

mt_status mt_st_load(const char *path, mt_st *out, mt_err *err)
{
    mt_status st = MT_OK;
    int fd = -1;
    unsigned char *base = NULL, lenbuf[8];
    struct stat sb;

    if ((st = mt_file_open(path, NULL, MT_EDATA, &fd, err)))
        return st;
    if (fstat(fd, &sb) != 0) {
        st = mt_errf(err, MT_EDATA, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (sb.st_size < 0 || (uintmax_t)sb.st_size > SIZE_MAX - 16) {
        st = mt_errf(err, MT_EDATA, "%s: file too large", path);
        goto fail;
    }
    size_t size = (size_t)sb.st_size, got = size < 8 ? size : 8, pad = 0;
    ssize_t r = mt_file_read(fd, lenbuf, got);
    if (r < 0 || (size_t)r != got) {
        st = mt_errf(err, MT_EDATA, "%s: cannot read: %s", path,
                     r < 0 ? strerror(errno) : "the file shrank while being read");
        goto fail;
    }
    /* Place the file so that the data area (at 8 + N) is 8-byte aligned. */
    if (got == 8)
        pad = (size_t)((8 - (8 + le64(lenbuf)) % 8) % 8);
    /* one spare byte: a file that grew while being read is caught, not cut */
    if (!(base = malloc(size + pad + 1))) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", path, size);
        goto fail;
    }
    memcpy(base + pad, lenbuf, got);
    r = mt_file_read(fd, base + pad + got, size - got + 1);
    if (r < 0 || (size_t)r != size - got) {
        st = mt_errf(err, MT_EDATA, "%s: cannot read: %s", path,
                     r < 0 ? strerror(errno) : "the file changed size while being read");
        goto fail;
    }
    close(fd);
    unsigned char *b = base;
    base = NULL;
    return parse_owned(out, b, pad, size, path, err);

fail:
    close(fd);
    free(base);
    return st;
}

void mt_st_free(mt_st *st)
{
    if (!st)
        return;
    free(st->path);
    free(st->tensors);
    free(st->meta);
    free(st->buf);
    free(st->strings);
    *st = (mt_st){0};
}

const mt_st_tensor *mt_st_find(const mt_st *st, const char *name)
{
    if (!st || !name)
        return NULL;
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *mt_st_meta_get(const mt_st *st, const char *key)
{
    if (!st || !key)
        return NULL;
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

mt_status mt_st_get(const mt_st *st, const char *name, mt_st_dtype dtype, const size_t *shape,
                    int ndim, void *dst, mt_err *err)
{
    const char *file = st && st->path ? st->path : "(no file)";
    char want[160], have[160];

    if (!name || (unsigned)dtype >= MT_ST_N_DTYPES || ndim < 0 || ndim > MT_ST_MAX_DIMS ||
        (ndim && !shape))
        return mt_errf(err, MT_EARG, "%s: mt_st_get: invalid arguments", file);
    const mt_st_tensor *t = mt_st_find(st, name);
    if (!t)
        return mt_errf(err, MT_EDATA, "%s: tensor '%s' is missing", file, name);
    if (t->dtype != dtype)
        return mt_errf(err, MT_EDATA, "%s: tensor '%s': dtype %s expected, found %s", file, name,
                       dtypes[dtype].name, dtypes[t->dtype].name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same)
        return mt_errf(err, MT_EDATA, "%s: tensor '%s': shape %s expected, found %s", file, name,
                       fmt_shape(want, sizeof want, shape, ndim),
                       fmt_shape(have, sizeof have, t->shape, t->ndim));
    if (t->nbytes) {
        if (!dst)
            return mt_errf(err, MT_EARG, "%s: mt_st_get: dst is NULL", file);
        memcpy(dst, t->data, t->nbytes);
    }
    return MT_OK;
}

mt_status mt_st_get_f32(const mt_st *st, const char *name, const size_t *shape, int ndim,
                        float *dst, mt_err *err)
{
    return mt_st_get(st, name, MT_ST_F32, shape, ndim, dst, err);
}
