/* mt_net: models as lists of mt_layers (named or from a SPEC string), one
 * parameter block, and the threaded training step and evaluation forward.
 * It does not know optimizers, data sets or files beyond its own tensors
 * (mt_optim steps net->params; mt_st stores the state_dict). */
#include "mt_net.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_layers.h"
#include "mt_mem.h"

#define BN_EPS MT_NET_BN_EPS
/* Samples per weight-gradient product of a conv layer: a longer K per
 * call; the patches of CONV_G samples are each thread's scratch. */
#define CONV_G 4
#define BN_MOMENTUM 0.1f

/* ======================================================================== */
/* Building                                                                  */
/* ======================================================================== */

/* Describes a layer's input for messages: "32x26x26" or "800 features". */
static void shape_str(char *buf, size_t cap, const mt_layer *L)
{
    if (L->flat)
        snprintf(buf, cap, "%d features", L->c);
    else
        snprintf(buf, cap, "%dx%dx%d", L->c, L->h, L->w);
}

/* Parses a positive int in [1, max] at s (to the next ':' ',' or end). */
static int parse_int(const char **s, int max)
{
    const char *p = *s;
    long v = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        if (v > max)
            return -1;
    }
    *s = p;
    return v >= 1 ? (int)v : -1;
}

/* Appends one layer, computing its output shape from the current one;
 * item is the SPEC item for messages. */
static mt_status add_layer(mt_net *net, mt_layer L, const char *item, int *c, int *h, int *w,
                           int *flat, mt_err *err)
{
    const int idx = net->n_layers;
    char in[48];
    if (idx >= MT_NET_MAX_LAYERS)
        return mt_errf(err, MT_EARG, "model '%s': more than %d layers", net->model,
                       MT_NET_MAX_LAYERS);
    L.c = *c, L.h = *h, L.w = *w, L.flat = *flat;
    shape_str(in, sizeof in, &L);
    switch (L.kind) {
    case MT_LAYER_CONV:
        if (L.flat)
            return mt_errf(err, MT_EARG, "model '%s': item %d '%s' needs an image, got %s",
                           net->model, idx + 1, item, in);
        L.oh = L.h + 2 * L.pad - L.k + 1, L.ow = L.w + 2 * L.pad - L.k + 1;
        if (L.oh < 1 || L.ow < 1)
            return mt_errf(err, MT_EARG, "model '%s': item %d '%s' needs an input of at least %dx%d, got %s",
                           net->model, idx + 1, item, L.k - 2 * L.pad, L.k - 2 * L.pad, in);
        break;
    case MT_LAYER_MAXPOOL:
        if (L.flat || L.h < 2 || L.w < 2)
            return mt_errf(err, MT_EARG, "model '%s': item %d '%s' needs an image of at least 2x2, got %s",
                           net->model, idx + 1, item, in);
        L.oc = L.c, L.oh = L.h / 2, L.ow = L.w / 2;
        break;
    case MT_LAYER_LINEAR:
        if (!L.flat)
            return mt_errf(err, MT_EARG, "model '%s': item %d '%s' needs flat input, got %s (add flatten before it)",
                           net->model, idx + 1, item, in);
        L.oh = L.ow = 1;
        break;
    case MT_LAYER_FLATTEN:
        L.oc = L.c * L.h * L.w, L.oh = L.ow = 1;
        break;
    default: /* relu, dropout, bn keep the shape */
        L.oc = L.c, L.oh = L.h, L.ow = L.w;
        break;
    }
    net->layers[idx] = L;
    net->n_layers++;
    *c = L.oc, *h = L.oh, *w = L.ow;
    *flat = L.flat || L.kind == MT_LAYER_FLATTEN;
    return MT_OK;
}

/* One SPEC item into a layer (kind and arguments); -1 if malformed. */
static int parse_item(const char *s, size_t n, mt_layer *L)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(L, 0, sizeof *L);
    const char *p = buf;
    if (!strncmp(p, "conv:", 5)) {
        p += 5;
        L->kind = MT_LAYER_CONV;
        if ((L->oc = parse_int(&p, 65536)) < 0 || *p++ != ':' || (L->k = parse_int(&p, 64)) < 0)
            return -1;
        if (*p == '\0')
            return 0;
        if (strcmp(p, ":same") || L->k % 2 == 0)
            return -1;
        L->pad = (L->k - 1) / 2;
        return 0;
    }
    if (!strncmp(p, "linear:", 7)) {
        p += 7;
        L->kind = MT_LAYER_LINEAR;
        return (L->oc = parse_int(&p, 1 << 20)) < 0 || *p ? -1 : 0;
    }
    if (!strncmp(p, "dropout:", 8)) {
        char *end;
        L->kind = MT_LAYER_DROPOUT;
        double v = strtod(p + 8, &end);
        if (end == p + 8 || *end || !(v >= 0.0 && v < 1.0))
            return -1;
        L->p = (float)v;
        return 0;
    }
    static const struct { const char *s; mt_layer_kind k; } plain[] = {
        { "maxpool", MT_LAYER_MAXPOOL }, { "relu", MT_LAYER_RELU }, { "flatten", MT_LAYER_FLATTEN },
        { "bn", MT_LAYER_BN },
    };
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (!strcmp(p, plain[i].s)) {
            L->kind = plain[i].k;
            return 0;
        }
    return -1;
}

/* Builds the layer list from spec; names are item indices unless names
 * (one per item, "" for none) is given. */
static mt_status build_spec(mt_net *net, const char *spec, const char *const *names, mt_err *err)
{
    int c = net->in_c, h = net->in_h, w = net->in_w, flat = 0, item = 0;
    const char *s = spec;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        mt_layer L;
        char txt[64];
        snprintf(txt, sizeof txt, "%.*s", (int)(n < 60 ? n : 60), s);
        if (parse_item(s, n, &L) < 0)
            return mt_errf(err, MT_EARG,
                           "model '%s': item %d '%s' is not one of conv:OC:K[:same], maxpool, relu, "
                           "dropout:P, flatten, linear:OC, bn", net->model, item + 1, txt);
        if (names)
            snprintf(L.name, sizeof L.name, "%s", names[item]);
        else if (L.kind == MT_LAYER_CONV || L.kind == MT_LAYER_LINEAR || L.kind == MT_LAYER_BN)
            snprintf(L.name, sizeof L.name, "%d", item);
        mt_status st = add_layer(net, L, txt, &c, &h, &w, &flat, err);
        if (st)
            return st;
        item++;
        if (!e)
            break;
        s = e + 1;
    }
    if (!flat || c != net->n_classes)
        return mt_errf(err, MT_EARG, "model '%s' ends with %d%s%s, the data has %d classes "
                       "(end with flatten and linear:%d)", net->model, c, flat ? " features" : " channels",
                       flat ? "" : " of an image", net->n_classes, net->n_classes);
    return MT_OK;
}

int mt_net_is_model(const char *model)
{
    mt_net *n = calloc(1, sizeof *n);
    if (!n)
        return 0;
    int ok = mt_net_build(n, model, NULL, 1, 28, 28, 10, NULL) == MT_OK;
    mt_net_free(n);
    free(n);
    return ok;
}

mt_status mt_net_build(mt_net *net, const char *model, const mt_net_opts *o, int in_c, int in_h,
                       int in_w, int n_classes, mt_err *err)
{
    mt_net n = { 0 };
    mt_status st;
    static const char *cnn_names[] = { "conv1", "", "conv2", "", "", "", "", "fc1", "", "", "fc2" };
    static const char *fast_names[] = { "conv1", "", "", "conv2", "", "", "", "fc1", "", "fc2" };
    const char *mlp_names[32];
    char mlp_fc[9][16];
    if (!model || !*model || strlen(model) >= sizeof n.model)
        return mt_errf(err, MT_EARG, "model: give a name (cnn, fastcnn, mlp) or a layer list");
    if (in_c < 1 || in_h < 1 || in_w < 1 || n_classes < 1)
        return mt_errf(err, MT_EARG, "model '%s': bad input shape %dx%dx%d or %d classes", model,
                       in_c, in_h, in_w, n_classes);
    snprintf(n.model, sizeof n.model, "%s", model);
    n.in_c = in_c, n.in_h = in_h, n.in_w = in_w, n.n_classes = n_classes;
    const char *const *names = NULL;
    if (!strcmp(model, "cnn")) {
        snprintf(n.spec, sizeof n.spec, "conv:32:3,relu,conv:64:3,relu,maxpool,dropout:0.25,flatten,"
                 "linear:128,relu,dropout:0.5,linear:%d", n_classes);
        names = cnn_names;
    } else if (!strcmp(model, "fastcnn")) {
        snprintf(n.spec, sizeof n.spec, "conv:24:5,maxpool,relu,conv:32:3,maxpool,relu,flatten,"
                 "linear:256,relu,linear:%d", n_classes);
        names = fast_names;
    } else if (!strcmp(model, "mlp")) {
        mt_net_opts d = { .hidden = { 128, 64 }, .n_hidden = 2 };
        if (!o)
            o = &d;
        if (o->n_hidden < 0 || o->n_hidden > 8 || !(o->dropout >= 0.f && o->dropout < 1.f))
            return mt_errf(err, MT_EARG, "model 'mlp': at most 8 hidden layers and dropout in [0, 1)");
        size_t len = (size_t)snprintf(n.spec, sizeof n.spec, "flatten");
        int ni = 0;
        mlp_names[ni++] = "";
        for (int l = 0; l <= o->n_hidden; l++) {
            int oc = l < o->n_hidden ? o->hidden[l] : n_classes;
            snprintf(mlp_fc[l], sizeof mlp_fc[l], "fc%d", (l + 1) % 10);
            len += (size_t)snprintf(n.spec + len, sizeof n.spec - len, ",linear:%d", oc);
            mlp_names[ni++] = mlp_fc[l];
            if (l < o->n_hidden) {
                len += (size_t)snprintf(n.spec + len, sizeof n.spec - len, ",relu");
                mlp_names[ni++] = "";
                if (o->dropout > 0.f) {
                    len += (size_t)snprintf(n.spec + len, sizeof n.spec - len, ",dropout:%g",
                                            (double)o->dropout);
                    mlp_names[ni++] = "";
                }
            }
        }
        names = mlp_names;
    } else {
        snprintf(n.spec, sizeof n.spec, "%s", model);
    }
    if ((st = build_spec(&n, n.spec, names, err)))
        return st;
    /* offsets: per layer weight then bias (state_dict order) */
    for (int l = 0; l < n.n_layers; l++) {
        mt_layer *L = &n.layers[l];
        size_t nw = 0, nb = 0;
        if (L->kind == MT_LAYER_CONV)
            nw = (size_t)L->oc * L->c * L->k * L->k, nb = (size_t)L->oc;
        else if (L->kind == MT_LAYER_LINEAR)
            nw = (size_t)L->oc * L->c, nb = (size_t)L->oc;
        else if (L->kind == MT_LAYER_BN) {
            nw = nb = (size_t)L->c;
            L->buf_off = n.n_buffers;
            n.n_buffers += 2 * (size_t)L->c;
        }
        L->w_off = n.n_params;
        L->b_off = n.n_params + nw;
        n.n_params += nw + nb;
    }
    n.params = mt_calloc_aligned(n.n_params * sizeof(float));
    n.grads = mt_calloc_aligned(n.n_params * sizeof(float));
    n.buffers = mt_calloc_aligned(n.n_buffers * sizeof(float));
    if (!n.params || !n.grads || !n.buffers) {
        mt_net_free(&n);
        return mt_errf(err, MT_ENOMEM, "model '%s': out of memory for %zu parameters", model,
                       n.n_params);
    }
    *net = n;
    return MT_OK;
}

void mt_net_free(mt_net *net)
{
    if (!net)
        return;
    free(net->params);
    free(net->grads);
    free(net->buffers);
    memset(net, 0, sizeof *net);
}

void mt_net_init(mt_net *net, mt_rng *rng)
{
    for (int l = 0; l < net->n_layers; l++) {
        const mt_layer *L = &net->layers[l];
        float *w = net->params + L->w_off, *b = net->params + L->b_off;
        if (L->kind == MT_LAYER_CONV || L->kind == MT_LAYER_LINEAR) {
            size_t fan_in = (size_t)L->c * (L->kind == MT_LAYER_CONV ? (size_t)L->k * L->k : 1);
            float bound = 1.f / sqrtf((float)fan_in);
            for (size_t i = 0; i < fan_in * (size_t)L->oc; i++)
                w[i] = mt_rng_uniform(rng, -bound, bound);
            for (int i = 0; i < L->oc; i++)
                b[i] = mt_rng_uniform(rng, -bound, bound);
        } else if (L->kind == MT_LAYER_BN) {
            for (int i = 0; i < L->c; i++) {
                w[i] = 1.f, b[i] = 0.f;
                net->buffers[L->buf_off + i] = 0.f;
                net->buffers[L->buf_off + L->c + i] = 1.f;
            }
        }
    }
    net->bn_batches = 0;
}

/* ======================================================================== */
/* Work buffers                                                              */
/* ======================================================================== */

struct mt_net_work {
    int max_B, n_threads, n_layers;
    size_t act_n[MT_NET_MAX_LAYERS + 1]; /* per-sample floats of layer l's input; [n] logits */
    float *act[MT_NET_MAX_LAYERS + 1];   /* (max_B, act_n[l]); relu/dropout alias their input;
                                            NULL when sc[l] */
    int sc[MT_NET_MAX_LAYERS + 1];       /* act[l] is needed only while its sample goes forward:
                                            it lives in the thread's scratch slot slot[l] */
    int slot[MT_NET_MAX_LAYERS + 1];
    size_t asc_n;                        /* floats per scratch slot */
    float *asc;                          /* (n_threads, 2, asc_n) */
    int own[MT_NET_MAX_LAYERS + 1];      /* act[l] allocated here (not an alias) */
    uint8_t *mask[MT_NET_MAX_LAYERS];    /* maxpool argmax / dropout keep, (max_B, out) */
    float *xhat[MT_NET_MAX_LAYERS];      /* bn: (max_B, act_n) */
    float *invstd[MT_NET_MAX_LAYERS];    /* bn: (c) */
    float *pk1[MT_NET_MAX_LAYERS];       /* conv: wt (CKK,OC); linear: wt (C,OC) */
    float *pk2[MT_NET_MAX_LAYERS];       /* conv: w2 (OC,CKK) */
    float *dwt[MT_NET_MAX_LAYERS];       /* conv: weight gradient (CKK,OC) */
    float *dact[MT_NET_MAX_LAYERS + 1];  /* (max_B, act_n[l]) gradient w.r.t. act[l], l >= 1;
                                            aliased like act */
    size_t scratch_n;                    /* floats per thread */
    float *scratch;                      /* (n_threads, scratch_n) conv patches of one sample */
    float *losses;                       /* (max_B) */
    float label_smoothing;               /* CrossEntropyLoss(label_smoothing) of the steps */
    int dry;                             /* sizing only (mt_net_work_bytes): nothing allocated */
    uint64_t bytes;                      /* what the buffers take */
};

static size_t conv_P(const mt_layer *L) { return (size_t)L->oh * L->ow; }
static size_t conv_CKK(const mt_layer *L) { return (size_t)L->k * L->k * L->c; }

/* Every buffer of mt_net_work_create comes from here: counted, and
 * allocated unless the work is only being sized (then a non-NULL stand-in
 * that is never dereferenced or freed). */
static void *work_alloc(mt_net_work *w, size_t n, int aligned)
{
    static char stand_in;
    /* what the allocator takes: a header and alignment on the heap, whole
     * pages (and one more) for a block it maps */
    w->bytes += n < 65536 ? n + 64 : (n + 8191) / 4096 * 4096;
    if (w->dry)
        return &stand_in;
    return aligned ? mt_alloc_aligned(n) : malloc(n);
}

void mt_net_work_free(mt_net_work *w)
{
    if (!w)
        return;
    if (w->dry) {
        free(w);
        return;
    }
    for (int l = 0; l <= MT_NET_MAX_LAYERS; l++)
        if (w->own[l])
            free(w->act[l]), free(w->dact[l]);
    for (int l = 0; l < MT_NET_MAX_LAYERS; l++) {
        free(w->mask[l]), free(w->xhat[l]), free(w->invstd[l]);
        free(w->pk1[l]), free(w->pk2[l]), free(w->dwt[l]);
    }
    free(w->scratch), free(w->losses), free(w->asc);
    free(w);
}

static mt_status work_create(mt_net_work **out, const mt_net *net, int max_B, int n_threads, int dry,
                             mt_err *err)
{
    if (max_B < 1 || n_threads < 1)
        return mt_errf(err, MT_EARG, "model: bad batch %d or threads %d", max_B, n_threads);
    mt_net_work *w = calloc(1, sizeof *w);
    if (!w)
        goto nomem;
    w->dry = dry;
    w->bytes = sizeof *w;
    w->max_B = max_B, w->n_threads = n_threads, w->n_layers = net->n_layers;
    const size_t B = (size_t)max_B;
    size_t maxact = 1;
    w->act_n[0] = (size_t)net->in_c * net->in_h * net->in_w;
    /* Which activations backward reads: a linear layer's input, a ReLU's
     * output, a bn layer's input and output (batch-wide), the logits; the
     * others (a conv's output before max-pool, ...) are dead once their
     * sample has gone forward, so they live in per-thread scratch.  Relu and
     * dropout share their input's buffer. */
    int need[MT_NET_MAX_LAYERS + 1] = { 0 };
    const int n = net->n_layers;
    need[n] = 1;
    for (int l = 0; l < n; l++) {
        mt_layer_kind kd = net->layers[l].kind;
        if (kd == MT_LAYER_LINEAR)
            need[l] = need[l + 1] = 1;
        if (kd == MT_LAYER_CONV) /* its weight gradient makes the patches again */
            need[l] = 1;
        if (kd == MT_LAYER_RELU)
            need[l + 1] = 1;
        if (kd == MT_LAYER_BN)
            need[l] = need[l + 1] = 1;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int l = 1; l < n; l++) {
            mt_layer_kind kd = net->layers[l].kind;
            if (kd == MT_LAYER_RELU || kd == MT_LAYER_DROPOUT)
                need[l] = need[l + 1] = need[l] | need[l + 1];
        }
    for (int l = 0; l < net->n_layers; l++) {
        const mt_layer *L = &net->layers[l];
        size_t on = (size_t)L->oc * L->oh * L->ow, in = w->act_n[l];
        w->act_n[l + 1] = on;
        maxact = in > maxact ? in : maxact;
        maxact = on > maxact ? on : maxact;
        if (l > 0 && (L->kind == MT_LAYER_RELU || L->kind == MT_LAYER_DROPOUT)) {
            w->act[l + 1] = w->act[l];
            w->dact[l + 1] = w->dact[l];
            w->sc[l + 1] = w->sc[l];
            w->slot[l + 1] = w->slot[l];
        } else {
            w->own[l + 1] = 1;
            w->sc[l + 1] = !need[l + 1];
            w->slot[l + 1] = 1 - w->slot[l];
            if (w->sc[l + 1])
                w->asc_n = on > w->asc_n ? on : w->asc_n;
            if ((!w->sc[l + 1] && !(w->act[l + 1] = work_alloc(w, B * on * sizeof(float), 1))) ||
                !(w->dact[l + 1] = work_alloc(w, B * on * sizeof(float), 1)))
                goto nomem;
        }
        switch (L->kind) {
        case MT_LAYER_CONV: {
            size_t pc = CONV_G * conv_P(L) * conv_CKK(L);
            w->scratch_n = pc > w->scratch_n ? pc : w->scratch_n;
            if (!(w->pk1[l] = work_alloc(w, (size_t)L->oc * conv_CKK(L) * sizeof(float), 1)) ||
                !(w->pk2[l] = work_alloc(w, (size_t)L->oc * conv_CKK(L) * sizeof(float), 1)) ||
                !(w->dwt[l] = work_alloc(w, (size_t)L->oc * conv_CKK(L) * sizeof(float), 1)))
                goto nomem;
            break;
        }
        case MT_LAYER_LINEAR:
            if (!(w->pk1[l] = work_alloc(w, (size_t)L->oc * L->c * sizeof(float), 1)))
                goto nomem;
            break;
        case MT_LAYER_MAXPOOL:
        case MT_LAYER_DROPOUT:
            if (!(w->mask[l] = work_alloc(w, B * on, 0)))
                goto nomem;
            break;
        case MT_LAYER_BN:
            if (!(w->xhat[l] = work_alloc(w, B * on * sizeof(float), 1)) ||
                !(w->invstd[l] = work_alloc(w, (size_t)L->c * sizeof(float), 0)))
                goto nomem;
            break;
        default:
            break;
        }
    }
    if (!(w->asc = work_alloc(w, (size_t)n_threads * 2 * (w->asc_n + 16) * sizeof(float), 1)) ||
        !(w->scratch = work_alloc(w, (size_t)n_threads * (w->scratch_n + 16) * sizeof(float), 1)) ||
        !(w->losses = work_alloc(w, B * sizeof(float), 0)))
        goto nomem;
    *out = w;
    return MT_OK;
nomem:
    mt_net_work_free(w);
    return mt_errf(err, MT_ENOMEM, "model '%s': out of memory for a batch of %d", net->model, max_B);
}

mt_status mt_net_work_create(mt_net_work **out, const mt_net *net, int max_B, int n_threads,
                             mt_err *err)
{
    return work_create(out, net, max_B, n_threads, 0, err);
}

mt_status mt_net_work_bytes(const mt_net *net, int max_B, int n_threads, uint64_t *bytes, mt_err *err)
{
    mt_net_work *w;
    mt_status st = work_create(&w, net, max_B, n_threads, 1, err);
    if (st)
        return st;
    *bytes = w->bytes;
    mt_net_work_free(w);
    return MT_OK;
}

void mt_net_work_set_label_smoothing(mt_net_work *w, float ls)
{
    w->label_smoothing = ls;
}

const float *mt_net_work_logits(const mt_net_work *w)
{
    return w->act[w->n_layers];
}

/* ======================================================================== */
/* The threaded step                                                         */
/* ======================================================================== */

typedef struct {
    mt_net *net;
    mt_net_work *w;
    mt_pool *pool;
    const float *x;
    const uint8_t *labels;
    int B;
    uint64_t seed, step;
    const mt_kern *k;
    int training;
    /* predict */
    size_t n;
    float *logits;
} step_ctx;

static void barrier(step_ctx *c)
{
    if (c->pool)
        mt_pool_barrier(c->pool);
}

/* [lo,hi) of n for thread tid of nt, boundaries rounded to align. */
static void split(int n, int tid, int nt, int align, int *lo, int *hi)
{
    long a = (long)n * tid / nt, b = (long)n * (tid + 1) / nt;
    a = a / align * align;
    b = tid == nt - 1 ? n : b / align * align;
    *lo = (int)a, *hi = (int)b;
}

/* Weights into the products' layouts (conv patches, linear W^T). */
static void pack_weights(step_ctx *c, int tid, int nt)
{
    const mt_net *net = c->net;
    for (int l = 0; l < net->n_layers; l++) {
        const mt_layer *L = &net->layers[l];
        const float *wp = net->params + L->w_off;
        if (L->kind == MT_LAYER_CONV && l % nt == tid)
            mt_conv2d_pack(c->w->pk1[l], c->w->pk2[l], wp, L->c, L->oc, L->k);
        else if (L->kind == MT_LAYER_LINEAR) {
            int c0, c1;
            split(L->c, tid, nt, 16, &c0, &c1);
            c->k->transpose(c->w->pk1[l], wp, L->c, L->oc, c0, c1);
        }
    }
}

/* Sample b's activation j: its rows in the batch buffer, or the thread's
 * scratch slot. */
static float *act_at(mt_net_work *w, int j, int b, int tid)
{
    if (w->sc[j])
        return w->asc + ((size_t)tid * 2 + (size_t)w->slot[j]) * (w->asc_n + 16);
    return w->act[j] + (size_t)b * w->act_n[j];
}

/* Forward of samples [b0,b1) through layer l; in training the bn layers
 * work on the whole batch between barriers. */
static void forward_layer(step_ctx *c, int l, int b0, int b1, int tid, int nt)
{
    const mt_net *net = c->net;
    mt_net_work *w = c->w;
    const mt_layer *L = &net->layers[l];
    const size_t in_n = w->act_n[l], out_n = w->act_n[l + 1];
    const int nb = b1 - b0;
    const float *in = l == 0 ? c->x + (size_t)b0 * in_n : act_at(w, l, b0, tid);
    float *out = act_at(w, l + 1, b0, tid);
    assert(nb == 1 || (!w->sc[l] && !w->sc[l + 1]));
    const float *wp = net->params + L->w_off, *bp = net->params + L->b_off;
    switch (L->kind) {
    case MT_LAYER_CONV:
    {   /* patches in the thread's scratch: backward makes its own (backward_w_rows) */
        float *col = w->scratch + (size_t)tid * (w->scratch_n + 16);
        for (int b = 0; b < nb; b++)
            mt_conv2d_forward(out + (size_t)b * out_n, col, in + (size_t)b * in_n, w->pk1[l], bp, 1, L->h,
                              L->w, L->c, L->oc, L->k, L->pad, c->k);
        break;
    }
    case MT_LAYER_MAXPOOL:
        mt_maxpool2d_forward(out, w->mask[l] + (size_t)b0 * out_n, in, nb, L->h, L->w, L->c, c->k);
        break;
    case MT_LAYER_RELU:
        mt_relu_forward(out, in, (size_t)nb * in_n);
        break;
    case MT_LAYER_DROPOUT:
        if (c->training && L->p > 0.f) {
            for (int b = b0; b < b1; b++)
                mt_dropout_forward(out + (size_t)(b - b0) * out_n, w->mask[l] + (size_t)b * out_n,
                                   in + (size_t)(b - b0) * in_n, in_n, L->p,
                                   mt_dropout_seed(c->seed, (uint64_t)l, c->step, (uint64_t)b));
        } else {
            if (out != in)
                memcpy(out, in, (size_t)nb * in_n * sizeof *out);
            if (c->training)
                memset(w->mask[l] + (size_t)b0 * out_n, 1, (size_t)nb * out_n);
        }
        break;
    case MT_LAYER_FLATTEN:
        if (L->flat)
            memcpy(out, in, (size_t)nb * in_n * sizeof *out);
        else
            mt_flatten_forward(out, in, nb, L->h, L->w, L->c);
        break;
    case MT_LAYER_LINEAR:
        mt_linear_forward(out, in, w->pk1[l], bp, nb, L->c, L->oc, c->k);
        break;
    case MT_LAYER_BN: {
        const float *rm = net->buffers + L->buf_off, *rv = rm + L->c;
        const int hw = L->flat ? 1 : L->h * L->w;
        if (!c->training) {
            mt_batchnorm_forward_eval(out, in, wp, bp, rm, rv, nb * hw, L->c, BN_EPS);
            break;
        }
        int c0, c1;
        barrier(c);
        split(L->c, tid, nt, 1, &c0, &c1);
        if (c->B * hw >= 2)
            mt_batchnorm_forward_train(w->act[l + 1], w->xhat[l], w->invstd[l],
                                       net->buffers + L->buf_off, net->buffers + L->buf_off + L->c,
                                       l == 0 ? c->x : w->act[l], wp, bp, c->B * hw, L->c, BN_EPS,
                                       BN_MOMENTUM, c0, c1);
        barrier(c);
        break;
    }
    }
}

/* Forward of samples [b0,b1) through layers [l0,l1) (no bn in training):
 * sample by sample, so a sample's activations stay in cache from layer to
 * layer, except the linear layers, which take the rows at once (a product
 * of one row would leave the tiles' registers idle). */
static void forward_run(step_ctx *c, int l0, int l1, int b0, int b1, int tid, int nt)
{
    for (int j = l0; j < l1;) {
        int r = j;
        while (r < l1 && c->net->layers[r].kind != MT_LAYER_LINEAR)
            r++;
        for (int b = b0; b < b1; b++)
            for (int q = j; q < r; q++)
                forward_layer(c, q, b, b + 1, tid, nt);
        if (r < l1)
            forward_layer(c, r, b0, b1, tid, nt);
        j = r + 1;
    }
}

/* Backward of sample b through layer l: the input gradient only (weight
 * gradients are made batch-wide, in backward_step). */
static void backward_sample(step_ctx *c, int l, int b, int tid)
{
    const mt_net *net = c->net;
    mt_net_work *w = c->w;
    const mt_layer *L = &net->layers[l];
    const size_t in_n = w->act_n[l], out_n = w->act_n[l + 1];
    float *d = w->dact[l + 1] + (size_t)b * out_n;
    float *din = l > 0 ? w->dact[l] + (size_t)b * in_n : NULL;
    switch (L->kind) {
    case MT_LAYER_CONV:
        if (din)
            mt_conv2d_backward_x(din, w->scratch + (size_t)tid * (w->scratch_n + 16), d, w->pk2[l], 1,
                                 L->h, L->w, L->c, L->oc, L->k, L->pad, c->k);
        break;
    case MT_LAYER_LINEAR:
        if (din)
            mt_linear_backward_x(din, d, net->params + L->w_off, 1, L->c, L->oc, c->k);
        break;
    case MT_LAYER_MAXPOOL:
        if (din)
            mt_maxpool2d_backward(din, d, w->mask[l] + (size_t)b * out_n, 1, L->h, L->w, L->c, c->k);
        break;
    case MT_LAYER_RELU:
        mt_relu_backward(d, d, w->act[l + 1] + (size_t)b * out_n, out_n);
        break;
    case MT_LAYER_DROPOUT:
        mt_dropout_backward(d, d, w->mask[l] + (size_t)b * out_n, out_n, L->p);
        break;
    case MT_LAYER_FLATTEN:
        if (din && L->flat)
            memcpy(din, d, in_n * sizeof *din);
        else if (din)
            mt_flatten_backward(din, d, 1, L->h, L->w, L->c);
        break;
    case MT_LAYER_BN:
        assert(0); /* batch-wide */
        break;
    }
}

static int is_param(const mt_layer *L)
{
    return L->kind == MT_LAYER_CONV || L->kind == MT_LAYER_LINEAR;
}

/* One step on thread tid: the forward sample by sample (a sample's
 * activations stay in cache from layer to layer) up to each bn layer, which
 * works on the whole batch between barriers; the loss on own rows; then,
 * from the top, each conv/linear layer's weight gradient split by rows of
 * the gradient over the whole batch (after a barrier: it needs every
 * sample's output gradient), followed by the own samples' input gradients
 * down to the next conv/linear/bn layer. */
static void step_thread(void *arg, int tid, int nt)
{
    step_ctx *c = arg;
    mt_net *net = c->net;
    mt_net_work *w = c->w;
    const int B = c->B, n = net->n_layers, K = net->n_classes;
    int b0, b1;
    split(B, tid, nt, 1, &b0, &b1);
    const int nb = b1 - b0;

    pack_weights(c, tid, nt);
    {
        int g0, g1; /* zero the gradient block in 16-float pieces */
        split((int)((net->n_params + 15) / 16), tid, nt, 1, &g0, &g1);
        size_t lo = (size_t)g0 * 16, hi = (size_t)g1 * 16;
        hi = hi < net->n_params ? hi : net->n_params;
        if (hi > lo)
            memset(net->grads + lo, 0, (hi - lo) * sizeof *net->grads);
    }
    barrier(c);
    for (int l = 0; l < n;) {
        int e = l;
        while (e < n && net->layers[e].kind != MT_LAYER_BN)
            e++;
        forward_run(c, l, e, b0, b1, tid, nt);
        if (e < n)
            forward_layer(c, e, b0, b1, tid, nt);
        l = e + 1;
    }

    /* loss on own rows: dlogits = (softmax - onehot) / B */
    if (w->label_smoothing > 0.f)
        c->k->softmax_xent_ls(w->dact[n] + (size_t)b0 * K, w->losses + b0, w->act[n] + (size_t)b0 * K,
                              c->labels + b0, nb, K, 1.f / (float)B, w->label_smoothing);
    else
        c->k->softmax_xent(w->dact[n] + (size_t)b0 * K, w->losses + b0, w->act[n] + (size_t)b0 * K,
                           c->labels + b0, nb, K, 1.f / (float)B);

    for (int l = n - 1; l >= 0;) {
        const mt_layer *L = &net->layers[l];
        float *gw = net->grads + L->w_off, *gb = net->grads + L->b_off;
        int r0, r1;
        const int start = l;
        if (L->kind == MT_LAYER_CONV) {
            const int CKK = (int)conv_CKK(L);
            barrier(c);
            split(CKK, tid, nt, 1, &r0, &r1);
            mt_conv2d_backward_w_rows(w->dwt[l], tid == 0 ? gb : NULL, w->scratch + (size_t)tid * (w->scratch_n + 16),
                                      w->dact[l + 1], l == 0 ? c->x : w->act[l], B, CONV_G, L->h, L->w, L->c,
                                      L->oc, L->k, L->pad, r0, r1, c->k);
        } else if (L->kind == MT_LAYER_LINEAR) {
            barrier(c);
            split(L->c, tid, nt, 16, &r0, &r1);
            mt_linear_backward_w(gw, tid == 0 ? gb : NULL, w->dact[l + 1], l == 0 ? c->x : w->act[l], B,
                                 L->c, L->oc, r0, r1, c->k);
        } else if (L->kind == MT_LAYER_BN) {
            const int hw = L->flat ? 1 : L->h * L->w;
            barrier(c);
            split(L->c, tid, nt, 1, &r0, &r1);
            if (l > 0)
                mt_batchnorm_backward(w->dact[l], gw, gb, w->dact[l + 1], w->xhat[l], w->invstd[l],
                                      net->params + L->w_off, B * hw, L->c, r0, r1);
            else { /* gamma and beta only: the input gradient goes to scratch */
                for (int cc = r0; cc < r1; cc++)
                    for (int r = 0; r < B * hw; r++) {
                        size_t i = (size_t)r * L->c + cc;
                        gw[cc] += w->dact[l + 1][i] * w->xhat[l][i];
                        gb[cc] += w->dact[l + 1][i];
                    }
            }
            barrier(c);
            l--; /* the layer below starts its own chain */
            continue;
        }
        int stop = start;
        while (stop >= 0 && (stop == start || !(is_param(&net->layers[stop]) ||
                                                net->layers[stop].kind == MT_LAYER_BN)))
            stop--;
        int top = start;
        if (L->kind == MT_LAYER_LINEAR) { /* own rows at once: M = nb rows for the product */
            if (l > 0 && nb > 0)
                mt_linear_backward_x(w->dact[l] + (size_t)b0 * w->act_n[l],
                                     w->dact[l + 1] + (size_t)b0 * w->act_n[l + 1],
                                     net->params + L->w_off, nb, L->c, L->oc, c->k);
            top--;
        }
        for (int b = b0; b < b1; b++)
            for (int j = top; j > stop; j--)
                backward_sample(c, j, b, tid);
        l = stop;
    }
    barrier(c);
    for (int l = 0; l < n; l++) {
        const mt_layer *L = &net->layers[l];
        if (L->kind == MT_LAYER_CONV && l % nt == tid)
            mt_conv2d_unpack_grad(net->grads + L->w_off, w->dwt[l], L->c, L->oc, L->k);
    }
}

double mt_net_step(mt_net *net, mt_net_work *w, mt_pool *pool, const float *x,
                   const uint8_t *labels, int B, uint64_t seed, uint64_t step, const mt_kern *k)
{
    assert(B >= 1 && B <= w->max_B && (!pool || mt_pool_threads(pool) <= w->n_threads));
    step_ctx c = { .net = net, .w = w, .pool = pool, .x = x, .labels = labels, .B = B,
                   .seed = seed, .step = step, .k = k, .training = 1 };
    if (pool)
        mt_pool_run(pool, step_thread, &c);
    else
        step_thread(&c, 0, 1);
    for (int l = 0; l < net->n_layers; l++)
        if (net->layers[l].kind == MT_LAYER_BN) {
            net->bn_batches++;
            break;
        }
    double s = 0.0;
    for (int i = 0; i < B; i++)
        s += w->losses[i];
    return s;
}

static void predict_thread(void *arg, int tid, int nt)
{
    step_ctx *c = arg;
    const mt_net *net = c->net;
    mt_net_work *w = c->w;
    const size_t in_n = w->act_n[0], K = (size_t)net->n_classes;
    pack_weights(c, tid, nt);
    barrier(c);
    for (size_t s0 = 0; s0 < c->n; s0 += (size_t)w->max_B) {
        int B = (int)(c->n - s0 < (size_t)w->max_B ? c->n - s0 : (size_t)w->max_B), b0, b1;
        split(B, tid, nt, 1, &b0, &b1);
        step_ctx cc = *c;
        cc.x = c->x + s0 * in_n;
        cc.B = B;
        forward_run(&cc, 0, net->n_layers, b0, b1, tid, nt);
        memcpy(c->logits + (s0 + (size_t)b0) * K, w->act[net->n_layers] + (size_t)b0 * K,
               (size_t)(b1 - b0) * K * sizeof(float));
    }
}

void mt_net_predict(const mt_net *net, mt_net_work *w, mt_pool *pool, const float *x, size_t n,
                    float *logits, const mt_kern *k)
{
    step_ctx c = { .net = (mt_net *)net, .w = w, .pool = pool, .x = x, .k = k, .training = 0,
                   .n = n, .logits = logits };
    if (pool)
        mt_pool_run(pool, predict_thread, &c);
    else
        predict_thread(&c, 0, 1);
}

/* ======================================================================== */
/* Tensors and files                                                         */
/* ======================================================================== */

/* Tensors per layer: conv/linear 2, bn 5 (weight, bias, running_mean,
 * running_var, num_batches_tracked). */
static int layer_tensors(const mt_layer *L)
{
    return L->kind == MT_LAYER_CONV || L->kind == MT_LAYER_LINEAR ? 2 : L->kind == MT_LAYER_BN ? 5 : 0;
}

int mt_net_n_tensors(const mt_net *net)
{
    int n = 0;
    for (int l = 0; l < net->n_layers; l++)
        n += layer_tensors(&net->layers[l]);
    return n;
}

void mt_net_tensor(const mt_net *net, int i, char *buf, size_t cap, mt_st_tensor *t)
{
    memset(t, 0, sizeof *t);
    for (int l = 0; l < net->n_layers; l++) {
        const mt_layer *L = &net->layers[l];
        int nt = layer_tensors(L);
        if (i >= nt) {
            i -= nt;
            continue;
        }
        static const char *sfx[] = { "weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked" };
        snprintf(buf, cap, "%s.%s", L->name, sfx[i]);
        t->name = buf;
        t->dtype = MT_ST_F32;
        if (i == 0) {
            t->data = net->params + L->w_off;
            if (L->kind == MT_LAYER_CONV) {
                t->ndim = 4;
                t->shape[0] = (size_t)L->oc, t->shape[1] = (size_t)L->c;
                t->shape[2] = t->shape[3] = (size_t)L->k;
            } else if (L->kind == MT_LAYER_LINEAR) {
                t->ndim = 2;
                t->shape[0] = (size_t)L->oc, t->shape[1] = (size_t)L->c;
            } else {
                t->ndim = 1, t->shape[0] = (size_t)L->c;
            }
        } else if (i == 1) {
            t->data = net->params + L->b_off;
            t->ndim = 1, t->shape[0] = (size_t)L->oc;
        } else if (i < 4) {
            t->data = net->buffers + L->buf_off + (i == 3 ? (size_t)L->c : 0);
            t->ndim = 1, t->shape[0] = (size_t)L->c;
        } else {
            t->dtype = MT_ST_I64;
            t->data = &net->bn_batches;
            t->ndim = 0;
        }
        size_t ne = 1;
        for (int d = 0; d < t->ndim; d++)
            ne *= t->shape[d];
        t->nbytes = ne * mt_st_dtype_size(t->dtype);
        return;
    }
    assert(0);
}

mt_status mt_net_save(const char *path, const mt_net *net, const mt_st_meta *meta, size_t n_meta,
                      mt_err *err)
{
    int n = mt_net_n_tensors(net);
    mt_st_tensor *t = calloc((size_t)n + 1, sizeof *t);
    char (*names)[64] = calloc((size_t)n + 1, sizeof *names);
    mt_status st;
    if (!t || !names) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++)
        mt_net_tensor(net, i, names[i], sizeof names[i], &t[i]);
    st = mt_st_write(path, t, (size_t)n, meta, n_meta, err);
done:
    free(t);
    free(names);
    return st;
}

mt_status mt_net_load(mt_net *net, const mt_st *st, mt_err *err)
{
    int n = mt_net_n_tensors(net);
    char name[64];
    mt_st_tensor t;
    /* check everything before copying anything */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            mt_net_tensor(net, i, name, sizeof name, &t);
            if (!pass) {
                const mt_st_tensor *f = mt_st_find(st, name);
                if (!f)
                    return mt_errf(err, MT_EDATA, "%s: tensor '%s' is missing (model '%s')", st->path,
                                   name, net->model);
                int ok = f->dtype == t.dtype && f->ndim == t.ndim;
                for (int d = 0; ok && d < t.ndim; d++)
                    ok = f->shape[d] == t.shape[d];
                if (!ok) {
                    char want[64] = "", got[64] = "";
                    for (int d = 0; d < t.ndim; d++)
                        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%zu", d ? "," : "", t.shape[d]);
                    for (int d = 0; d < f->ndim && d < MT_ST_MAX_DIMS; d++)
                        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%zu", d ? "," : "", f->shape[d]);
                    return mt_errf(err, MT_EDATA, "%s: tensor '%s': %s [%s] in the file, model '%s' needs %s [%s]",
                                   st->path, name, mt_st_dtype_name(f->dtype), got, net->model,
                                   mt_st_dtype_name(t.dtype), want);
                }
            } else {
                mt_status s = mt_st_get(st, name, t.dtype, t.shape, t.ndim, (void *)t.data, err);
                if (s)
                    return s;
            }
        }
    return MT_OK;
}
