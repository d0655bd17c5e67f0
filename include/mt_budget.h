/* mt_budget: the memory a training run will need, worked out from the
 * architecture, batch sizes, thread count and data set sizes before anything
 * big is allocated, and the memory the machine (or the cgroup the process
 * runs in) has available.  The command layer compares the two and refuses a
 * run that cannot fit, instead of letting the kernel's OOM killer end it
 * without a word.  Figures are upper estimates (allocator and page rounding
 * included), in bytes. */
#ifndef MT_BUDGET_H
#define MT_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"
#include "mt_optim.h"

typedef struct mt_budget_in {
    const int *dims;       /* (n_layers+1) layer sizes: inputs, hidden..., classes */
    int n_layers;          /* Linear layers, >= 1 */
    mt_opt_kind opt;       /* adam/adamw keep two moments, sgd one */
    int batch_size;        /* training batch rows */
    int test_batch_size;   /* evaluation batch rows */
    int threads;           /* engine threads (>= 1) */
    uint64_t n_train;      /* training samples (0 if not training) */
    uint64_t n_test;       /* test samples */
    /* A layer-list model (mt_net) instead of the MLP of dims: its floats
     * of parameters and of buffers (bn running statistics), and the bytes
     * of its work buffers for a training batch (mt_net_work_bytes).  dims
     * then gives only the input size and the classes (n_layers 1). */
    uint64_t net_params, net_buffers, net_work;
} mt_budget_in;

/* Where the bytes go; the parts add up to total (saturating at UINT64_MAX). */
typedef enum {
    MT_BUDGET_MODEL,  /* parameters and gradients */
    MT_BUDGET_OPTIM,  /* optimizer moments */
    MT_BUDGET_ENGINE, /* the engine's transposed copies and per-thread batch buffers */
    MT_BUDGET_DATA,   /* images, labels, orders, predictions */
    MT_BUDGET_N_PARTS
} mt_budget_part;

typedef struct mt_budget {
    uint64_t part[MT_BUDGET_N_PARTS];
    uint64_t total;
    uint64_t n_params;     /* floats in all weights and biases */
} mt_budget;

/* Fills *out.  MT_EARG for n_layers outside 1..MT_MAX_LAYERS, a size < 1,
 * or batch sizes / threads < 1. */
mt_status mt_budget_compute(mt_budget *out, const mt_budget_in *in, mt_err *err);

/* The part holding the most bytes (to name what to change). */
mt_budget_part mt_budget_largest(const mt_budget *b);
/* "model and gradients", "optimizer state", "engine buffers", "data sets". */
const char *mt_budget_part_name(mt_budget_part p);

/* MT_OK when b->total <= limit; else MT_EARG with one line (no option
 * names; the caller adds what to change), e.g.
 * "the run needs about 10.9 GiB (model and gradients 6.7 GiB, optimizer
 * state 6.7 GiB, ...), more than the 3.8 GiB available".  limit_what names
 * the limit: "available", "allowed". */
mt_status mt_budget_check(const mt_budget *b, uint64_t limit, const char *limit_what, mt_err *err);

/* Bytes the process can still allocate: MemAvailable from /proc/meminfo,
 * lowered to the room left under the memory limit of the process's cgroup
 * (v2 memory.max - memory.current, v1 memory.limit_in_bytes -
 * memory.usage_in_bytes) when that is smaller.  0 when nothing is known. */
uint64_t mt_mem_available(void);
/* Same with other files, for tests: meminfo ("/proc/meminfo"), the
 * process's cgroup list ("/proc/self/cgroup") and the cgroup mount
 * ("/sys/fs/cgroup"); any may be NULL. */
uint64_t mt_mem_available_from(const char *meminfo, const char *self_cgroup, const char *cgroup_root);

/* "12 KiB", "3.4 MiB", "1.2 GiB" (binary units, 1 decimal below 10). */
const char *mt_size_str(char *buf, size_t cap, uint64_t bytes);

/* Parses a size: digits with an optional K, M, G or T suffix (powers of
 * 1024; "KiB", "MB", "GB" etc. accepted), e.g. "512M", "4G", "1073741824".
 * Returns 0 and *out, or -1 for anything else (also 0 or overflow). */
int mt_size_parse(const char *s, uint64_t *out);

#endif
