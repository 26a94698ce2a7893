/* The C API baseline for the bindings' load benchmarks: opens a .qs file and loads every
 * tensor in one precision with a plain loop of C API calls, as a binding's loop does.
 *
 *   load_loop FILE.qs high|low ROUNDS
 *
 * high: qs_tensor_info_get_e + qs_load_high_e into buffers allocated (and touched) once
 *       before the rounds, as the Python benchmark's get_tensor(name, out=...) does;
 * low:  qs_level_info_get_e + qs_load_level_e (level 0) into buffers malloc'ed per
 *       tensor and freed at the end of the round, as get_tensor(name, "low") allocates.
 * Each round (open, the loop, close) is timed alone; one line per round: "<ms>". */
#include <qstore/qstore.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int fail(qs_error* err, const char* what) {
    fprintf(stderr, "load_loop: %s: %s\n", what, qs_error_message(err));
    return 1;
}

/* One buffer per tensor of the file's high precision, allocated and touched. */
static void** high_buffers(const char* path, qs_error* err, size_t* count) {
    qs_file* f;
    if (qs_open_e(path, NULL, &f, err) != QS_OK) return NULL;
    *count = qs_tensor_count(f);
    void** buffers = calloc(*count ? *count : 1, sizeof *buffers);
    for (size_t i = 0; buffers && i < *count; ++i) {
        qs_tensor_info info = {sizeof info};
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
    if (qs_open_e(path, NULL, &f, err) != QS_OK) return fail(err, "open");
    const size_t n = qs_tensor_count(f);
    for (size_t i = 0; i < n; ++i) {
        qs_tensor_info info = {sizeof info};
        if (qs_tensor_info_get_e(f, i, &info, err) != QS_OK) return fail(err, "info");
        if (qs_load_high_e(f, i, buffers[i], info.high_bytes, err) != QS_OK) return fail(err, "load_high");
    }
    qs_close(f);
    return 0;
}

static int round_low(const char* path, qs_error* err) {
    qs_file* f;
    if (qs_open_e(path, NULL, &f, err) != QS_OK) return fail(err, "open");
    const size_t n = qs_tensor_count(f);
    void** parts = calloc(3 * (n ? n : 1), sizeof *parts);
    if (!parts) abort();
    for (size_t i = 0; i < n; ++i) {
        qs_level_info li = {sizeof li};
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

int main(int argc, char** argv) {
    if (argc != 4 || (strcmp(argv[2], "high") != 0 && strcmp(argv[2], "low") != 0)) {
        fprintf(stderr, "usage: load_loop FILE.qs high|low ROUNDS\n");
        return 2;
    }
    const char* path = argv[1];
    const int high = strcmp(argv[2], "high") == 0;
    const int rounds = atoi(argv[3]);
    qs_error* err = qs_error_new();
    size_t count = 0;
    void** buffers = NULL;
    if (high && !(buffers = high_buffers(path, err, &count))) return fail(err, "open");
    for (int r = 0; r < rounds; ++r) {
        const double t0 = now_ms();
        if (high ? round_high(path, buffers, err) : round_low(path, err)) return 1;
        printf("%.3f\n", now_ms() - t0);
        fflush(stdout);
    }
    for (size_t i = 0; i < count; ++i) free(buffers[i]);
    free(buffers);
    qs_error_free(err);
    return 0;
}
