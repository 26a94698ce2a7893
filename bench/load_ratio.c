/* qstore_load_ratio: one-thread load speed of a .qs file against zstd -d of the same
 * bytes, as a user of the C API sees it.
 *
 * The handle is opened once with one thread (num_threads = 1) and kept open. Every
 * round loads every tensor with qs_load_high_many, then decompresses each tensor's
 * high bytes from a zstd level-3 frame (ZSTD_decompressDCtx with one reused context,
 * the frames in memory), then
 * the same for the low precision (qs_load_low_many against frames of each tensor's
 * codes followed by its scales). Times are the CPU time of the calling thread, so
 * preemption by other processes does not count; the ratios are paired per round and
 * the medians over rounds are printed. Then each tensor is loaded alone with
 * qs_load_high (best of three, in file order), and the time per weight is printed by
 * tensor size: what small tensors pay. Pin the
 * process (taskset -c N) for steadier figures.
 *
 * usage: qstore_load_ratio FILE.qs [ROUNDS]
 */
#include <qstore/qstore.h>
#include <zstd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    size_t size;  /* raw bytes */
    void* frame;  /* its zstd level-3 frame */
    size_t frame_size;
    void* out;    /* decompression target */
} Frame;

typedef struct {
    size_t count;
    size_t* indices;
    void** high;
    size_t* high_sizes;
    void** codes;
    size_t* code_sizes;
    void** scales;
    size_t* scale_sizes;
    Frame* high_frames;
    Frame* low_frames;
    uint64_t* elements;
    int* coded; /* 1 if the tensor has a residual (not passthrough) */
    double high_bytes, low_bytes;
} Model;

static void die(const char* what) {
    fprintf(stderr, "qstore_load_ratio: %s: %s\n", what, qs_last_error_message());
    exit(1);
}

static void* xmalloc(size_t n) {
    void* p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "qstore_load_ratio: out of memory\n");
        exit(1);
    }
    return p;
}

static double thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static Frame compress_frame(const void* a, size_t a_size, const void* b, size_t b_size) {
    Frame f;
    unsigned char* raw = xmalloc(a_size + b_size);
    memcpy(raw, a, a_size);
    if (b_size) memcpy(raw + a_size, b, b_size);
    f.size = a_size + b_size;
    const size_t bound = ZSTD_compressBound(f.size);
    f.frame = xmalloc(bound);
    f.frame_size = ZSTD_compress(f.frame, bound, raw, f.size, 3);
    if (ZSTD_isError(f.frame_size)) die("ZSTD_compress");
    f.out = raw; /* reused as the decompression target */
    return f;
}

/* Every tensor's buffers, its first load (which checks the file), and the zstd frames. */
static Model prepare(qs_file* file) {
    Model m;
    memset(&m, 0, sizeof m);
    m.count = qs_tensor_count(file);
    m.indices = xmalloc(m.count * sizeof(size_t));
    m.high = xmalloc(m.count * sizeof(void*));
    m.high_sizes = xmalloc(m.count * sizeof(size_t));
    m.codes = xmalloc(m.count * sizeof(void*));
    m.code_sizes = xmalloc(m.count * sizeof(size_t));
    m.scales = xmalloc(m.count * sizeof(void*));
    m.scale_sizes = xmalloc(m.count * sizeof(size_t));
    m.high_frames = xmalloc(m.count * sizeof(Frame));
    m.low_frames = xmalloc(m.count * sizeof(Frame));
    m.elements = xmalloc(m.count * sizeof(uint64_t));
    m.coded = xmalloc(m.count * sizeof(int));
    for (size_t i = 0; i < m.count; ++i) {
        qs_tensor_info t;
        t.struct_size = sizeof t;
        if (qs_tensor_info_get(file, i, &t) != QS_OK) die("qs_tensor_info_get");
        m.indices[i] = i;
        m.elements[i] = t.num_elements;
        m.coded[i] = t.low_scheme != QS_LOW_PASSTHROUGH;
        m.high_sizes[i] = (size_t)t.high_bytes;
        m.code_sizes[i] = (size_t)t.low_code_bytes;
        m.scale_sizes[i] = (size_t)t.low_scale_bytes;
        m.high[i] = xmalloc(m.high_sizes[i]);
        m.codes[i] = xmalloc(m.code_sizes[i]);
        m.scales[i] = m.scale_sizes[i] ? xmalloc(m.scale_sizes[i]) : NULL;
        m.high_bytes += (double)t.high_bytes;
        m.low_bytes += (double)(t.low_code_bytes + t.low_scale_bytes);
    }
    if (qs_load_high_many(file, m.count, m.indices, m.high, m.high_sizes) != QS_OK) die("qs_load_high_many");
    if (qs_load_low_many(file, m.count, m.indices, m.codes, m.code_sizes, m.scales, m.scale_sizes) != QS_OK)
        die("qs_load_low_many");
    for (size_t i = 0; i < m.count; ++i) {
        m.high_frames[i] = compress_frame(m.high[i], m.high_sizes[i], NULL, 0);
        m.low_frames[i] = compress_frame(m.codes[i], m.code_sizes[i], m.scales[i], m.scale_sizes[i]);
    }
    return m;
}

static double zstd_seconds(ZSTD_DCtx* dctx, const Frame* frames, size_t count) {
    const double t0 = thread_cpu_seconds();
    for (size_t i = 0; i < count; ++i)
        if (ZSTD_decompressDCtx(dctx, frames[i].out, frames[i].size, frames[i].frame, frames[i].frame_size) !=
            frames[i].size)
            die("ZSTD_decompressDCtx");
    return thread_cpu_seconds() - t0;
}

/* qs_load_high of each tensor alone, best of three passes in file order, summed by
 * tensor size (elements, powers of 4 from 1024): what small tensors cost per weight. */
static void print_per_tensor_costs(qs_file* file, const Model* m) {
    enum { kBuckets = 6 };
    const uint64_t upper[kBuckets] = {1u << 10, 1u << 12, 1u << 14, 1u << 16, 1u << 18, UINT64_MAX};
    const char* const label[kBuckets] = {"< 1K", "< 4K", "< 16K", "< 64K", "< 256K", ">= 256K"};
    double seconds[kBuckets] = {0}, weights[kBuckets] = {0}, all_seconds = 0, all_weights = 0;
    size_t tensors[kBuckets] = {0};
    for (size_t i = 0; i < m->count; ++i) {
        if (!m->coded[i]) continue;
        double best = 1e30;
        for (int pass = 0; pass < 3; ++pass) {
            const double t0 = thread_cpu_seconds();
            if (qs_load_high(file, i, m->high[i], m->high_sizes[i]) != QS_OK) die("qs_load_high");
            const double t = thread_cpu_seconds() - t0;
            if (t < best) best = t;
        }
        int b = 0;
        while (m->elements[i] >= upper[b]) ++b;
        seconds[b] += best, weights[b] += (double)m->elements[i], ++tensors[b];
        all_seconds += best, all_weights += (double)m->elements[i];
    }
    printf("  qs_load_high of each tensor with a residual alone (best of 3), by elements:\n");
    for (int b = 0; b < kBuckets; ++b) {
        if (!tensors[b]) continue;
        printf("    %-8s %5zu tensors, %5.1f%% of the weights, %5.1f%% of the time, %6.2f ns per weight\n", label[b],
               tensors[b],
               100.0 * weights[b] / all_weights, 100.0 * seconds[b] / all_seconds, seconds[b] / weights[b] * 1e9);
    }
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: qstore_load_ratio FILE.qs [ROUNDS]\n");
        return 2;
    }
    const int rounds = argc > 2 ? atoi(argv[2]) : 11;
    if (rounds < 1) return 2;
    qs_open_options o = qs_open_options_default();
    o.num_threads = 1;
    qs_file* file = NULL;
    if (qs_open_ex(argv[1], &o, &file) != QS_OK) die(argv[1]);
    Model m = prepare(file);
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    if (!dctx) die("ZSTD_createDCtx");
    double* qh = xmalloc((size_t)rounds * sizeof(double));
    double* zh = xmalloc((size_t)rounds * sizeof(double));
    double* ql = xmalloc((size_t)rounds * sizeof(double));
    double* zl = xmalloc((size_t)rounds * sizeof(double));
    double* rh = xmalloc((size_t)rounds * sizeof(double));
    double* rl = xmalloc((size_t)rounds * sizeof(double));
    for (int r = 0; r < rounds; ++r) {
        double t0 = thread_cpu_seconds();
        if (qs_load_high_many(file, m.count, m.indices, m.high, m.high_sizes) != QS_OK) die("qs_load_high_many");
        qh[r] = m.high_bytes / (thread_cpu_seconds() - t0) / 1e6;
        zh[r] = m.high_bytes / zstd_seconds(dctx, m.high_frames, m.count) / 1e6;
        t0 = thread_cpu_seconds();
        if (qs_load_low_many(file, m.count, m.indices, m.codes, m.code_sizes, m.scales, m.scale_sizes) != QS_OK)
            die("qs_load_low_many");
        ql[r] = m.low_bytes / (thread_cpu_seconds() - t0) / 1e6;
        zl[r] = m.low_bytes / zstd_seconds(dctx, m.low_frames, m.count) / 1e6;
        rh[r] = qh[r] / zh[r];
        rl[r] = ql[r] / zl[r];
    }
    printf("%s: %zu tensors, high %.1f MB, low %.1f MB; %d rounds, one thread, CPU time, MB/s of output\n", argv[1],
           m.count, m.high_bytes / 1e6, m.low_bytes / 1e6, rounds);
    printf("  high: qs_load_high_many %.0f, zstd -d %.0f, paired ratio %.2f\n", median(qh, rounds), median(zh, rounds),
           median(rh, rounds));
    printf("  low:  qs_load_low_many  %.0f, zstd -d %.0f, paired ratio %.2f\n", median(ql, rounds), median(zl, rounds),
           median(rl, rounds));
    print_per_tensor_costs(file, &m);
    ZSTD_freeDCtx(dctx);
    qs_close(file);
    return 0;
}
