/* The prefixes of a file (qs_prefix_bytes_e, qs_level_count, qs_level_prefix_bytes_e).
 *   c_api_prefix WORK_DIR MODEL.qs
 * For model.qs, chain.qs and large.qs (run_c_api_test.sh): a memory source holding only
 * the first qs_level_prefix_bytes(k) bytes opens and serves every level <= k of every
 * tensor byte for byte as the whole file does, and reports QS_ERR_TRUNCATED above k; a
 * file cut at QS_PREFIX_INDEX opens; a counting callback over the whole file is asked
 * for nothing past the index prefix while opening, nor past level k's prefix by loads
 * of level k (from a fresh handle, so that no read-ahead of another level helps). */
#include "c_api_util.h"

static uint64_t prefix(qs_file* f, int which, qs_error* err) {
    uint64_t n = 0;
    CHECK(qs_prefix_bytes_e(f, which, &n, err) == QS_OK, qs_error_message(err));
    return n;
}

static uint64_t level_prefix(qs_file* f, uint32_t k, qs_error* err) {
    uint64_t n = 0;
    CHECK(qs_level_prefix_bytes_e(f, k, &n, err) == QS_OK, qs_error_message(err));
    return n;
}

/* The file cut to `cut` bytes serves levels <= k as `whole` does, and not the others. */
static void check_cut(qs_file* whole, const unsigned char* bytes, uint64_t cut, uint32_t k, qs_error* err) {
    qs_file* f = NULL;
    size_t i;
    CHECK(qs_open_memory_e(bytes, (size_t)cut, NULL, &f, err) == QS_OK, qs_error_message(err));
    if (!f) return;
    for (i = 0; i < qs_tensor_count(whole); ++i) {
        qs_tensor_info info;
        uint32_t level;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        qs_tensor_info_get_e(whole, i, &info, err);
        for (level = 0; level < info.num_levels; ++level) {
            size_t na = 0, nb = 0;
            unsigned char* a = load_level(whole, i, level, &na, err);
            unsigned char* b = load_level(f, i, level, &nb, err);
            if (level <= k || info.num_levels == 1) {
                CHECK(a && b && na == nb && memcmp(a, b, na) == 0, "a level <= k differs in the cut file");
            } else {
                CHECK(!b && qs_error_status(err) == QS_ERR_TRUNCATED, "a level above k loaded from the cut file");
            }
            free(a);
            free(b);
        }
    }
    qs_close(f);
}

/* Loads of level k from a fresh callback handle read only inside level k's prefix. */
static void check_reads(const unsigned char* bytes, uint64_t size, uint32_t k, uint64_t limit,
                        uint64_t index_limit, qs_error* err) {
    counting c;
    qs_source src;
    qs_file* f = NULL;
    size_t i;
    counting_init(&c, (unsigned char*)bytes, size);
    src = source_of(&c, "counted");
    CHECK(qs_open_source_e(&src, NULL, &f, err) == QS_OK, qs_error_message(err));
    CHECK(c.max_end <= index_limit, "opening read past the index prefix");
    if (!f) return;
    for (i = 0; i < qs_tensor_count(f); ++i) {
        qs_tensor_info info;
        size_t n = 0;
        unsigned char* p;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        qs_tensor_info_get_e(f, i, &info, err);
        p = load_level(f, i, k < info.num_levels ? k : info.num_levels - 1, &n, err);
        CHECK(p != NULL, qs_error_message(err));
        free(p);
    }
    CHECK(c.max_end <= limit, "a load of level k read past level k's prefix");
    qs_close(f);
    CHECK(c.releases == 1, "release");
}

static void check_file(const char* path) {
    qs_error* err = qs_error_new();
    qs_file* whole = NULL;
    uint64_t size = 0, before, index, previous = 0;
    unsigned char* bytes = read_whole(path, &size);
    uint32_t k, levels;
    CHECK(bytes != NULL, path);
    CHECK(qs_open_e(path, NULL, &whole, err) == QS_OK, qs_error_message(err));
    if (!bytes || !whole) return;
    before = prefix(whole, QS_PREFIX_BEFORE_INDEX, err);
    index = prefix(whole, QS_PREFIX_INDEX, err);
    CHECK(64 <= before && before < index && index <= size, "index range");
    levels = qs_level_count(whole);
    CHECK(levels >= 2, "a quantized file has two levels or more");
    for (k = 0; k < levels; ++k) {
        const uint64_t p = level_prefix(whole, k, err);
        CHECK(p >= index && p > previous && p <= size, "level prefixes grow");
        previous = p;
        check_cut(whole, bytes, p, k, err);
        check_reads(bytes, size, k, p, index, err);
    }
    CHECK(previous == size, "the highest level's prefix is the whole file");
    check_cut(whole, bytes, index, 0, err); /* holds level 0 too */
    {
        uint64_t n = 0;
        CHECK(qs_level_prefix_bytes_e(whole, levels, &n, err) == QS_ERR_INVALID_ARGUMENT, "level beyond count");
        CHECK(strstr(qs_error_message(err), path) != NULL, qs_error_message(err));
        CHECK(qs_prefix_bytes_e(whole, 7, &n, err) == QS_ERR_INVALID_ARGUMENT, "unknown prefix");
        CHECK(qs_prefix_bytes_e(NULL, QS_PREFIX_INDEX, &n, err) == QS_ERR_INVALID_ARGUMENT, "NULL file");
        CHECK(qs_level_count(NULL) == 0, "NULL file has no levels");
    }
    qs_close(whole);
    free(bytes);
    qs_error_free(err);
}

int main(int argc, char** argv) {
    const char* names[] = {"model.qs", "chain.qs", "large.qs"};
    char path[1024];
    size_t k;
    if (argc != 3) { fprintf(stderr, "usage: %s WORK_DIR MODEL.qs\n", argv[0]); return 2; }
    for (k = 0; k < sizeof names / sizeof names[0]; ++k) {
        snprintf(path, sizeof path, "%s/%s", argv[1], names[k]);
        check_file(path);
    }
    if (g_failures) { fprintf(stderr, "%d failures\n", g_failures); return 1; }
    printf("ok: every level prefix serves its levels and loads read nothing beyond it\n");
    return 0;
}
