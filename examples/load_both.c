/* Example: open a .qs file through the C API and load every tensor in both
 * precisions, timing each. Build: cc -std=c99 load_both.c $(pkg-config --cflags --libs qstore)
 * Usage: load_both model.qs [threads]                                               */
#define _POSIX_C_SOURCE 199309L
#include <qstore/qstore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const char* what, qs_status s) {
    fprintf(stderr, "%s: %s: %s\n", what, qs_status_string(s), qs_last_error_message());
    return 1;
}

int main(int argc, char** argv) {
    qs_open_options options = qs_open_options_default();
    qs_file* file = NULL;
    qs_status s;
    size_t i, count;
    unsigned long long low_bytes = 0, high_bytes = 0;
    double low_seconds = 0, high_seconds = 0, batch_seconds = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s model.qs [threads]\n", argv[0]);
        return 2;
    }
    if (argc > 2) options.num_threads = (uint32_t)atoi(argv[2]);
    s = qs_open_ex(argv[1], &options, &file);
    if (s != QS_OK) return fail("qs_open", s);

    count = qs_tensor_count(file);
    for (i = 0; i < count; ++i) {
        qs_tensor_info info;
        void *codes, *scales, *high;
        double t0, t1, t2;
        info.struct_size = sizeof(info);
        s = qs_tensor_info_get(file, i, &info);
        if (s != QS_OK) return fail("qs_tensor_info_get", s);
        codes = malloc(info.low_code_bytes ? info.low_code_bytes : 1);
        scales = malloc(info.low_scale_bytes ? info.low_scale_bytes : 1);
        high = malloc(info.high_bytes ? info.high_bytes : 1);
        if (!codes || !scales || !high) return fail("malloc", QS_ERR_OUT_OF_MEMORY);
        t0 = now_seconds();
        s = qs_load_low(file, i, codes, info.low_code_bytes, scales, info.low_scale_bytes);
        if (s != QS_OK) return fail(info.name, s);
        t1 = now_seconds();
        s = qs_load_high(file, i, high, info.high_bytes);
        if (s != QS_OK) return fail(info.name, s);
        t2 = now_seconds();
        low_bytes += info.low_code_bytes + info.low_scale_bytes;
        high_bytes += info.high_bytes;
        low_seconds += t1 - t0;
        high_seconds += t2 - t1;
        free(codes);
        free(scales);
        free(high);
    }
    /* The same high-precision loads as one batch: tensors are decoded in parallel on the
     * handle's threads, which pays off for models made of many small tensors. */
    {
        size_t* indices = malloc((count ? count : 1) * sizeof(size_t));
        void** outs = malloc((count ? count : 1) * sizeof(void*));
        size_t* sizes = malloc((count ? count : 1) * sizeof(size_t));
        double t0, t1;
        if (!indices || !outs || !sizes) return fail("malloc", QS_ERR_OUT_OF_MEMORY);
        for (i = 0; i < count; ++i) {
            qs_tensor_info info;
            info.struct_size = sizeof(info);
            qs_tensor_info_get(file, i, &info);
            indices[i] = i;
            sizes[i] = info.high_bytes;
            outs[i] = malloc(info.high_bytes ? info.high_bytes : 1);
            if (!outs[i]) return fail("malloc", QS_ERR_OUT_OF_MEMORY);
            memset(outs[i], 0, info.high_bytes); /* fault the pages in before timing */
        }
        t0 = now_seconds();
        s = qs_load_high_many(file, count, indices, outs, sizes);
        t1 = now_seconds();
        if (s != QS_OK) return fail("qs_load_high_many", s);
        batch_seconds = t1 - t0;
        for (i = 0; i < count; ++i) free(outs[i]);
        free(indices);
        free(outs);
        free(sizes);
    }
    printf("%s: %zu tensors (qstore %s)\n", argv[1], count, qs_version_string());
    printf("  low  precision: %12llu bytes in %.3f s (%.0f MB/s)\n", low_bytes, low_seconds,
           low_seconds > 0 ? (double)low_bytes / low_seconds / 1e6 : 0.0);
    printf("  high precision: %12llu bytes in %.3f s (%.0f MB/s)\n", high_bytes, high_seconds,
           high_seconds > 0 ? (double)high_bytes / high_seconds / 1e6 : 0.0);
    printf("  high precision, one qs_load_high_many call: %.3f s (%.0f MB/s)\n", batch_seconds,
           batch_seconds > 0 ? (double)high_bytes / batch_seconds / 1e6 : 0.0);
    qs_close(file);
    return 0;
}
