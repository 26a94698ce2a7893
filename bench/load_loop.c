/* The C API baseline for the bindings' load benchmarks: opens a .qs file and loads every
 * tensor in one precision with a plain loop of C API calls, as a binding's loop does.
 *
 *   load_loop FILE.qs high|low|high-many|low-many ROUNDS [THREADS]
 *
 * high: qs_tensor_info_get_e + qs_load_high_e into buffers allocated (and touched) once
 *       before the rounds, as the Python benchmark's get_tensor(name, out=...) does;
 * low:  qs_level_info_get_e + qs_load_level_e (level 0) into buffers malloc'ed per
 *       tensor and freed at the end of the round, as get_tensor(name, "low") allocates.
 * high-many, low-many: every tensor into a buffer malloc'ed per tensor, all in one
 *       qs_load_high_many_e / qs_load_low_many_e call, as File.get_tensors does.
 * THREADS: qs_open_options.num_threads (default 0: one per CPU). Each round (open, the
 * loop, close) is timed alone; one line per round: "<wall ms> <process CPU ms>". */
#define _POSIX_C_SOURCE 200809L
#include <qstore/qstore.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static qs_open_options g_options;

static int fail(qs_error* err, const char* what) {
    fprintf(stderr, "load_loop: %s: %s\n", what, qs_error_message(err));
    return 1;
}

/* One buffer per tensor of the file's high precision, allocated and touched. */
static void** high_buffers(const char* path, qs_error* err, size_t* count) {
    qs_file* f;
    if (qs_open_e(path, &g_options, &f, err) != QS_OK) return NULL;
    *count = qs_tensor_count(f);
    void** buffers = calloc(*count ? *count : 1, sizeof *buffers);
    for (size_t i = 0; buffers && i < *count; ++i) {
        qs_tensor_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        if (qs_tensor_info_get_e(f, i, &info, err) != QS_OK) abort();
        buffers[i] = malloc(info.high_bytes ? info.high_bytes : 1);
        if (!buffers[i]) abort();
        memset(buffers[i], 0, info.high_bytes);
    }
    qs_close(f);
    return buffers;
}

static int round_high(const char* path, void** buffers, qs_error* err) {
    qs_file* f;
    if (qs_open_e(path, &g_options, &f, err) != QS_OK) return fail(err, "open");
    const size_t n = qs_tensor_count(f);
    for (size_t i = 0; i < n; ++i) {
        qs_tensor_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        if (qs_tensor_info_get_e(f, i, &info, err) != QS_OK) return fail(err, "info");
        if (qs_load_high_e(f, i, buffers[i], info.high_bytes, err) != QS_OK) return fail(err, "load_high");
    }
    qs_close(f);
    return 0;
}

static int round_low(const char* path, qs_error* err) {
    qs_file* f;
    if (qs_open_e(path, &g_options, &f, err) != QS_OK) return fail(err, "open");
    const size_t n = qs_tensor_count(f);
    void** parts = calloc(3 * (n ? n : 1), sizeof *parts);
    if (!parts) abort();
    for (size_t i = 0; i < n; ++i) {
        qs_level_info li;
        memset(&li, 0, sizeof li);
        li.struct_size = sizeof li;
        if (qs_level_info_get_e(f, i, 0, &li, err) != QS_OK) return fail(err, "level_info");
        parts[3 * i] = malloc(li.code_bytes ? li.code_bytes : 1);
        parts[3 * i + 1] = li.scale_bytes ? malloc(li.scale_bytes) : NULL;
        parts[3 * i + 2] = li.zero_point_bytes ? malloc(li.zero_point_bytes) : NULL;
        if (qs_load_level_e(f, i, 0, parts[3 * i], li.code_bytes, parts[3 * i + 1], li.scale_bytes,
                            parts[3 * i + 2], li.zero_point_bytes, err) != QS_OK)
            return fail(err, "load_level");
    }
    for (size_t i = 0; i < 3 * n; ++i) free(parts[i]);
    free(parts);
    qs_close(f);
    return 0;
}

/* Every tensor's high precision (or low codes and scales) into buffers malloc'ed for
 * this round, in one batched call. */
static int round_many(const char* path, int high, qs_error* err) {
    qs_file* f;
    if (qs_open_e(path, &g_options, &f, err) != QS_OK) return fail(err, "open");
    const size_t n = qs_tensor_count(f), slots = n ? n : 1;
    size_t* idx = malloc(slots * sizeof *idx);
    size_t* sizes = malloc(2 * slots * sizeof *sizes);
    void** bufs = calloc(2 * slots, sizeof *bufs);
    if (!idx || !sizes || !bufs) abort();
    for (size_t i = 0; i < n; ++i) {
        qs_tensor_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        if (qs_tensor_info_get_e(f, i, &info, err) != QS_OK) return fail(err, "info");
        idx[i] = i;
        sizes[i] = high ? info.high_bytes : info.low_code_bytes;
        sizes[n + i] = high ? 0 : info.low_scale_bytes;
        bufs[i] = malloc(sizes[i] ? sizes[i] : 1);
        bufs[n + i] = sizes[n + i] ? malloc(sizes[n + i]) : NULL;
    }
    qs_status s = high ? qs_load_high_many_e(f, n, idx, bufs, sizes, err)
                       : qs_load_low_many_e(f, n, idx, bufs, sizes, bufs + n, sizes + n, err);
    if (s != QS_OK) return fail(err, high ? "load_high_many" : "load_low_many");
    for (size_t i = 0; i < 2 * n; ++i) free(bufs[i]);
    free(bufs);
    free(sizes);
    free(idx);
    qs_close(f);
    return 0;
}

int main(int argc, char** argv) {
    const char* mode = argc == 4 || argc == 5 ? argv[2] : "";
    const int high = strcmp(mode, "high") == 0;
    const int many = strcmp(mode, "high-many") == 0 || strcmp(mode, "low-many") == 0;
    if (!high && !many && strcmp(mode, "low") != 0) {
        fprintf(stderr, "usage: load_loop FILE.qs high|low|high-many|low-many ROUNDS [THREADS]\n");
        return 2;
    }
    const char* path = argv[1];
    const int rounds = atoi(argv[3]);
    g_options = qs_open_options_default();
    g_options.num_threads = argc == 5 ? (uint32_t)strtoul(argv[4], NULL, 10) : 0;
    qs_error* err = qs_error_new();
    size_t count = 0;
    void** buffers = NULL;
    if (high && !(buffers = high_buffers(path, err, &count))) return fail(err, "open");
    for (int r = 0; r < rounds; ++r) {
        const double wall = now_ms(CLOCK_MONOTONIC), cpu = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        const int failed = many ? round_many(path, mode[0] == 'h', err)
                                : high ? round_high(path, buffers, err) : round_low(path, err);
        if (failed) return 1;
        printf("%.3f %.3f\n", now_ms(CLOCK_MONOTONIC) - wall, now_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu);
        fflush(stdout);
    }
    for (size_t i = 0; i < count; ++i) free(buffers[i]);
    free(buffers);
    qs_error_free(err);
    return 0;
}
