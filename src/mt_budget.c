/* mt_budget: memory estimates for a training run and the memory available.
 * The estimate follows the allocations of mt_mlp (params + grads), mt_optim
 * (one or two moment blocks), mt_engine (transposed W1/W2 copies with their
 * moments and gradients; per thread, page-aligned batch buffers: gathered
 * floats, row lists and every layer's activations and their gradients),
 * mt_trainer and the evaluation work, and the data sets (uint8 images,
 * labels, the sample order, predictions and probabilities); or, for a
 * layer-list model, mt_net's blocks and the work buffers it sizes itself. */
#include "mt_budget.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_mlp.h"

static uint64_t add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static uint64_t mul(uint64_t a, uint64_t b) { return b && a > UINT64_MAX / b ? UINT64_MAX : a * b; }

mt_status mt_budget_compute(mt_budget *out, const mt_budget_in *in, mt_err *err)
{
    if (in->n_layers < 1 || in->n_layers > MT_MAX_LAYERS)
        return mt_errf(err, MT_EARG, "memory budget: %d layers (expected 1..%d)", in->n_layers, MT_MAX_LAYERS);
    if (in->batch_size < 1 || in->test_batch_size < 1 || in->threads < 1)
        return mt_errf(err, MT_EARG, "memory budget: batch sizes and threads must be at least 1");
    uint64_t P = 0, acts = 0, first2 = 0; /* params; floats of activations per row; W1+W2 floats */
    for (int l = 0; l <= in->n_layers; l++) {
        if (in->dims[l] < 1)
            return mt_errf(err, MT_EARG, "memory budget: layer size %d", in->dims[l]);
        if (l == 0)
            continue;
        uint64_t layer = add(mul((uint64_t)in->dims[l], (uint64_t)in->dims[l - 1]), (uint64_t)in->dims[l]);
        P = add(P, layer);
        if (l <= 2)
            first2 = add(first2, layer);
        acts = add(acts, (uint64_t)in->dims[l]);
    }
    const uint64_t C = (uint64_t)in->dims[0], K = (uint64_t)in->dims[in->n_layers];
    const uint64_t B = (uint64_t)in->batch_size, TB = (uint64_t)in->test_batch_size;
    const uint64_t T = (uint64_t)in->threads, page = 4096;
    int moments = in->opt == MT_OPT_SGD ? 1 : 2;
    mt_budget b = { { 0 }, 0, P };

    b.part[MT_BUDGET_MODEL] = mul(P, 2 * sizeof(float));
    b.part[MT_BUDGET_OPTIM] = mul(P, (uint64_t)moments * sizeof(float));
    /* engine: W1/W2 transposed with gradients and moments, per-thread
     * segments rounded to pages; per thread the whole batch as floats and
     * row lists (C floats + C 16-bit indices a row), activations and their
     * gradients for every layer; the trainer's and evaluation's work. */
    uint64_t engine = mul(first2, (uint64_t)(2 + moments) * sizeof(float));
    engine = add(engine, mul(T, 8 * page));
    uint64_t per_row = add(mul(C, sizeof(float) + sizeof(uint16_t)), mul(acts, 2 * sizeof(float)));
    engine = add(engine, mul(mul(T, B), per_row));
    engine = add(engine, mul(B, add(mul(add(C, acts), 2 * sizeof(float)), 8)));    /* trainer work */
    engine = add(engine, mul(TB, add(mul(add(C, acts), 2 * sizeof(float)), 8)));   /* eval work */
    if (in->net_params) {
        /* mt_net: params, grads and bn buffers; moments; its work, the
         * trainer's batch of floats and evaluation's (inputs, logits and
         * their gradient) */
        b.n_params = in->net_params;
        b.part[MT_BUDGET_MODEL] = mul(add(mul(in->net_params, 2), in->net_buffers), sizeof(float));
        b.part[MT_BUDGET_OPTIM] = mul(in->net_params, (uint64_t)moments * sizeof(float));
        engine = add(in->net_work, mul(B, mul(C, sizeof(float))));
        engine = add(engine, mul(TB, mul(add(C, 2 * K), sizeof(float))));
    }
    b.part[MT_BUDGET_ENGINE] = engine;
    /* data: images and labels of both sets, the order (u32) of the training
     * set, predictions and class probabilities of the test set */
    uint64_t data = mul(in->n_train, add(C, 1 + sizeof(uint32_t)));
    data = add(data, mul(in->n_test, add(add(C, 2), mul(K, sizeof(float)))));
    b.part[MT_BUDGET_DATA] = data;
    for (int i = 0; i < MT_BUDGET_N_PARTS; i++)
        b.total = add(b.total, b.part[i]);
    *out = b;
    return MT_OK;
}

mt_budget_part mt_budget_largest(const mt_budget *b)
{
    int best = 0;
    for (int i = 1; i < MT_BUDGET_N_PARTS; i++)
        if (b->part[i] > b->part[best])
            best = i;
    return (mt_budget_part)best;
}

const char *mt_budget_part_name(mt_budget_part p)
{
    static const char *names[MT_BUDGET_N_PARTS] = { "model and gradients", "optimizer state",
                                                    "engine buffers", "data sets" };
    return (unsigned)p < MT_BUDGET_N_PARTS ? names[p] : "?";
}

const char *mt_size_str(char *buf, size_t cap, uint64_t bytes)
{
    static const char *units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu bytes", (unsigned long long)bytes);
    else
        snprintf(buf, cap, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

mt_status mt_budget_check(const mt_budget *b, uint64_t limit, const char *limit_what, mt_err *err)
{
    if (b->total <= limit)
        return MT_OK;
    char t[32], l[32], p[MT_BUDGET_N_PARTS][32];
    for (int i = 0; i < MT_BUDGET_N_PARTS; i++)
        mt_size_str(p[i], sizeof p[i], b->part[i]);
    return mt_errf(err, MT_EARG, "the run needs about %s (%s %s, %s %s, %s %s, %s %s), more than the %s %s",
                   mt_size_str(t, sizeof t, b->total), mt_budget_part_name(0), p[0], mt_budget_part_name(1),
                   p[1], mt_budget_part_name(2), p[2], mt_budget_part_name(3), p[3],
                   mt_size_str(l, sizeof l, limit), limit_what);
}

/* ------------------------------------------------------------ available */

/* The first unsigned number in file path, or -1 ("max" -> UINT64_MAX). */
static int read_u64(const char *path, uint64_t *v)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[64] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    if (strncmp(line, "max", 3) == 0) {
        *v = UINT64_MAX;
        return 0;
    }
    char *end;
    unsigned long long x = strtoull(line, &end, 10);
    if (end == line)
        return -1;
    *v = x;
    return 0;
}

/* Room under the limit of cgroup dir (v2 or v1 file names), or UINT64_MAX. */
static uint64_t cgroup_room(const char *dir, int v2)
{
    char lp[4200], up[4200];
    uint64_t lim, use;
    snprintf(lp, sizeof lp, "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
    snprintf(up, sizeof up, "%s/%s", dir, v2 ? "memory.current" : "memory.usage_in_bytes");
    if (read_u64(lp, &lim) != 0 || read_u64(up, &use) != 0 || lim >= ((uint64_t)1 << 60))
        return UINT64_MAX; /* no file or no limit (v1 shows "no limit" as ~2^63) */
    return lim > use ? lim - use : 0;
}

uint64_t mt_mem_available_from(const char *meminfo, const char *self_cgroup, const char *cgroup_root)
{
    uint64_t avail = UINT64_MAX;
    FILE *f = meminfo ? fopen(meminfo, "r") : NULL;
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                avail = mul(kb, 1024);
                break;
            }
        fclose(f);
    }
    f = self_cgroup && cgroup_root ? fopen(self_cgroup, "r") : NULL;
    if (f) {
        char line[4096], dir[8400];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (!c2)
                continue;
            *c1 = *c2 = '\0';
            const char *ctrl = c1 + 1, *path = c2 + 1;
            int v2 = strcmp(line, "0") == 0 && *ctrl == '\0';
            int v1 = strcmp(ctrl, "memory") == 0 || strstr(ctrl, ",memory") || strncmp(ctrl, "memory,", 7) == 0;
            if (!v1 && !v2)
                continue;
            /* the process's own cgroup, then the mount's root (a container sees its own as /) */
            snprintf(dir, sizeof dir, "%s%s%s", cgroup_root, v1 ? "/memory" : "", path);
            uint64_t r = cgroup_room(dir, v2);
            snprintf(dir, sizeof dir, "%s%s", cgroup_root, v1 ? "/memory" : "");
            uint64_t r2 = cgroup_room(dir, v2);
            r = r < r2 ? r : r2;
            avail = r < avail ? r : avail;
        }
        fclose(f);
    }
    return avail == UINT64_MAX ? 0 : avail;
}

uint64_t mt_mem_available(void)
{
    return mt_mem_available_from("/proc/meminfo", "/proc/self/cgroup", "/sys/fs/cgroup");
}

int mt_size_parse(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    int shift = 0;
    switch (*s) {
    case '\0': break;
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    default: return -1;
    }
    if (*s) {
        s++;
        if (strcmp(s, "") != 0 && strcmp(s, "B") != 0 && strcmp(s, "iB") != 0)
            return -1;
    }
    if (v == 0 || v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}
