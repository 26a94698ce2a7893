/* The C API's whole-model load, the baseline of the bindings' benchmark (run.sh):
 *   load_all FILE.qs PASSES new|reuse|many|batch
 * After one untimed pass (none when PASSES is 0: then the open ("open WALL CPU") and one
 * pass are timed, the first loads of a fresh process, as a program loading its model
 * once), each pass loads every tensor, first the high precision
 * (qs_load_high_e), then the low one (qs_load_low_e: codes and scales), and prints
 * "high WALL CPU" and "low WALL CPU" (seconds; CPU: the process's, all threads). new: into buffers malloc'd for each tensor (as a
 * program keeping the tensors would), then freed; reuse: into the same buffers, made
 * once for the largest tensor; many: every tensor into a new buffer, all in one call
 * (qs_load_high_many_e, qs_load_low_many_e); batch: the same calls into two arenas (high,
 * low) holding every tensor, made once with their pointer arrays, as a program reloading
 * its model would. Every call takes a qs_error, as the bindings do. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <qstore/qstore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall and process CPU (all threads) seconds. */
typedef struct { double wall, cpu; } stamp;

static stamp now(void) {
    stamp s = {seconds(CLOCK_MONOTONIC), seconds(CLOCK_PROCESS_CPUTIME_ID)};
    return s;
}

/* Prints "WHAT WALL CPU": the seconds since t0. */
static void report(const char* what, stamp t0) {
    stamp t = now();
    printf("%s %.6f %.6f\n", what, t.wall - t0.wall, t.cpu - t0.cpu);
}

static int fail(qs_error* err) {
    fprintf(stderr, "load_all: %s\n", qs_error_message(err));
    return 1;
}

/* Buffers of reuse mode, as large as the largest tensor's parts. */
static void* g_high;
static void* g_codes;
static void* g_scales;

static int make_reused_buffers(qs_file* f, qs_error* err) {
    uint64_t high = 1, codes = 1, scales = 1;
    for (size_t i = 0; i < qs_tensor_count(f); ++i) {
        qs_tensor_info info = {sizeof info};
        if (qs_tensor_info_get_e(f, i, &info, err) != QS_OK) return fail(err);
        if (info.high_bytes > high) high = info.high_bytes;
        if (info.low_code_bytes > codes) codes = info.low_code_bytes;
        if (info.low_scale_bytes > scales) scales = info.low_scale_bytes;
    }
    g_high = malloc(high);
    g_codes = malloc(codes);
    g_scales = malloc(scales);
    return g_high && g_codes && g_scales ? 0 : 1;
}

/* One pass over every tensor; high != 0: high precision, else low. */
static int load_pass(qs_file* f, int high, int reuse, qs_error* err) {
    size_t n = qs_tensor_count(f);
    for (size_t i = 0; i < n; ++i) {
        qs_tensor_info info = {sizeof info};
        if (qs_tensor_info_get_e(f, i, &info, err) != QS_OK) return fail(err);
        if (reuse && high) {
            if (qs_load_high_e(f, i, g_high, info.high_bytes, err) != QS_OK) return fail(err);
        } else if (reuse) {
            if (qs_load_low_e(f, i, g_codes, info.low_code_bytes, info.low_scale_bytes ? g_scales : NULL,
                              info.low_scale_bytes, err) != QS_OK)
                return fail(err);
        } else if (high) {
            void* out = malloc(info.high_bytes ? info.high_bytes : 1);
            if (!out || qs_load_high_e(f, i, out, info.high_bytes, err) != QS_OK) return fail(err);
            free(out);
        } else {
            void* codes = malloc(info.low_code_bytes ? info.low_code_bytes : 1);
            void* scales = info.low_scale_bytes ? malloc(info.low_scale_bytes) : NULL;
            if (!codes || qs_load_low_e(f, i, codes, info.low_code_bytes, scales, info.low_scale_bytes, err) != QS_OK)
                return fail(err);
            free(codes);
            free(scales);
        }
    }
    return 0;
}

/* One pass in one batched call; every tensor into a buffer malloc'd for it. */
static int load_many(qs_file* f, int high, qs_error* err) {
    size_t n = qs_tensor_count(f);
    size_t* idx = malloc(n * sizeof *idx);
    size_t* sizes = malloc(n * sizeof *sizes);
    size_t* scale_sizes = malloc(n * sizeof *scale_sizes);
    void** outs = malloc(n * sizeof *outs);
    void** scales = malloc(n * sizeof *scales);
    if (!idx || !sizes || !scale_sizes || !outs || !scales) return 1;
    for (size_t i = 0; i < n; ++i) {
        qs_tensor_info info = {sizeof info};
        if (qs_tensor_info_get_e(f, i, &info, err) != QS_OK) return fail(err);
        idx[i] = i;
        sizes[i] = high ? info.high_bytes : info.low_code_bytes;
        scale_sizes[i] = high ? 0 : info.low_scale_bytes;
        outs[i] = malloc(sizes[i] ? sizes[i] : 1);
        scales[i] = scale_sizes[i] ? malloc(scale_sizes[i]) : NULL;
    }
    qs_status s = high ? qs_load_high_many_e(f, n, idx, outs, sizes, err)
                       : qs_load_low_many_e(f, n, idx, outs, sizes, scales, scale_sizes, err);
    if (s != QS_OK) return fail(err);
    for (size_t i = 0; i < n; ++i) {
        free(outs[i]);
        free(scales[i]);
    }
    free(idx);
    free(sizes);
    free(scale_sizes);
    free(outs);
    free(scales);
    return 0;
}

/* Batch mode's arguments of qs_load_high_many_e (high) and qs_load_low_many_e (low), in
 * two arenas made once. */
typedef struct {
    size_t n;
    size_t* idx;
    void** outs;
    size_t* sizes;
    void** scales;
    size_t* scale_sizes;
} batch;
static batch g_batch[2]; /* [0]: low, [1]: high */

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static int make_batch(qs_file* f, int high, qs_error* err) {
    batch* b = &g_batch[high];
    b->n = qs_tensor_count(f);
    size_t n = b->n ? b->n : 1, bytes = 8;
    b->idx = malloc(n * sizeof *b->idx);
    b->outs = malloc(n * sizeof *b->outs);
    b->sizes = malloc(n * sizeof *b->sizes);
    b->scales = malloc(n * sizeof *b->scales);
    b->scale_sizes = malloc(n * sizeof *b->scale_sizes);
    if (!b->idx || !b->outs || !b->sizes || !b->scales || !b->scale_sizes) return 1;
    for (size_t i = 0; i < b->n; ++i) {
        qs_tensor_info info = {sizeof info};
        if (qs_tensor_info_get_e(f, i, &info, err) != QS_OK) return fail(err);
        b->idx[i] = i;
        b->sizes[i] = high ? info.high_bytes : info.low_code_bytes;
        b->scale_sizes[i] = high ? 0 : info.low_scale_bytes;
        bytes += align8(b->sizes[i]) + align8(b->scale_sizes[i]);
    }
    unsigned char* arena = malloc(bytes);
    if (!arena) return 1;
    for (size_t i = 0; i < b->n; ++i) {
        b->outs[i] = arena;
        arena += align8(b->sizes[i]);
        b->scales[i] = b->scale_sizes[i] ? arena : NULL;
        arena += align8(b->scale_sizes[i]);
    }
    return 0;
}

static int load_batch(qs_file* f, int high, qs_error* err) {
    batch* b = &g_batch[high];
    qs_status s = high ? qs_load_high_many_e(f, b->n, b->idx, b->outs, b->sizes, err)
                       : qs_load_low_many_e(f, b->n, b->idx, b->outs, b->sizes, b->scales, b->scale_sizes, err);
    return s == QS_OK ? 0 : fail(err);
}

static int one_pass(qs_file* f, int high, int mode, qs_error* err) {
    return mode == 3 ? load_batch(f, high, err)
         : mode == 2 ? load_many(f, high, err)
                     : load_pass(f, high, mode == 1, err);
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FILE.qs PASSES new|reuse|many|batch\n", argv[0]);
        return 2;
    }
    qs_error* err = qs_error_new();
    int passes = atoi(argv[2]);
    qs_file* f;
    stamp t0 = now();
    if (!err || qs_open_e(argv[1], NULL, &f, err) != QS_OK) return err ? fail(err) : 1;
    if (passes == 0) report("open", t0);
    int mode = strcmp(argv[3], "reuse") == 0 ? 1 : strcmp(argv[3], "many") == 0 ? 2
             : strcmp(argv[3], "batch") == 0 ? 3 : 0;
    if (make_reused_buffers(f, err)) return 1;
    if (mode == 3 && (make_batch(f, 1, err) || make_batch(f, 0, err))) return 1;
    if (passes > 0 && (one_pass(f, 1, mode, err) || one_pass(f, 0, mode, err))) return 1;
    for (int p = 0; p < passes || p == 0; ++p) {
        for (int high = 1; high >= 0; --high) {
            stamp start = now();
            if (one_pass(f, high, mode, err)) return 1;
            report(high ? "high" : "low", start);
        }
    }
    qs_close(f);
    qs_error_free(err);
    return 0;
}
