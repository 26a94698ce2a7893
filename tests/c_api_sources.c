/* Opening from memory (qs_open_memory_e) and from a read-at callback (qs_open_source_e).
 *   c_api_sources WORK_DIR MODEL.qs
 * WORK_DIR holds model.qs, model-raw.qs (--low-raw), chain.qs, large.qs and a safetensors
 * container, container.safetensors (run_c_api_test.sh).
 * For each file: every level of every tensor loads to the same bytes from memory and
 * from a callback as from the path; opening a callback source reads at most two times
 * (a container: four, its safetensors header and its qstore header besides);
 * release is called exactly once (close, failed open, bad arguments); qs_view_low works
 * for memory and gives QS_ERR_NOT_AVAILABLE for a callback; a failing read_at gives
 * QS_ERR_IO naming the source. */
#include "c_api_util.h"

/* Every level of every tensor of `b` equals that of `a`, byte for byte. */
static void compare_all(qs_file* a, qs_file* b, qs_error* err) {
    size_t i;
    CHECK(qs_tensor_count(a) == qs_tensor_count(b), "tensor counts differ");
    for (i = 0; i < qs_tensor_count(a); ++i) {
        qs_tensor_info info;
        uint32_t level;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        CHECK(qs_tensor_info_get_e(a, i, &info, err) == QS_OK, qs_error_message(err));
        for (level = 0; level < info.num_levels; ++level) {
            size_t na = 0, nb = 0;
            unsigned char* pa = load_level(a, i, level, &na, err);
            unsigned char* pb = load_level(b, i, level, &nb, err);
            CHECK(pa && pb, qs_error_message(err));
            CHECK(pa && pb && na == nb && memcmp(pa, pb, na) == 0, "level bytes differ");
            free(pa);
            free(pb);
        }
    }
}

static void check_file(const char* path, unsigned open_reads) {
    qs_error* err = qs_error_new();
    qs_file *by_path = NULL, *in_memory = NULL, *by_callback = NULL;
    counting c;
    qs_source src;
    uint64_t size = 0;
    unsigned char* bytes = read_whole(path, &size);
    size_t i;
    CHECK(bytes != NULL, path);
    if (!bytes) return;
    counting_init(&c, bytes, size);
    src = source_of(&c, path);
    CHECK(qs_open_e(path, NULL, &by_path, err) == QS_OK, qs_error_message(err));
    CHECK(qs_open_memory_e(bytes, (size_t)size, NULL, &in_memory, err) == QS_OK, qs_error_message(err));
    CHECK(qs_open_source_e(&src, NULL, &by_callback, err) == QS_OK, qs_error_message(err));
    /* The header, then metadata, index and directory (a container: its own header, then those). */
    CHECK(c.calls == open_reads, "opening read another number of times");
    if (!by_path || !in_memory || !by_callback) return;
    compare_all(by_path, in_memory, err);
    compare_all(by_path, by_callback, err);
    CHECK(qs_verify_e(in_memory, err) == QS_OK, qs_error_message(err));
    CHECK(qs_verify_e(by_callback, err) == QS_OK, qs_error_message(err));
    for (i = 0; i < qs_tensor_count(by_path); ++i) {
        qs_tensor_info info;
        const void *codes = NULL, *scales = NULL, *mcodes = NULL, *mscales = NULL;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        qs_tensor_info_get_e(by_path, i, &info, err);
        if (!info.low_codes_are_raw) continue;
        CHECK(qs_view_low_e(by_path, i, &codes, &scales, err) == QS_OK, qs_error_message(err));
        CHECK(qs_view_low_e(in_memory, i, &mcodes, &mscales, err) == QS_OK, qs_error_message(err));
        CHECK(memcmp(codes, mcodes, (size_t)info.low_code_bytes) == 0, "memory view differs");
        CHECK((const unsigned char*)mcodes >= bytes && (const unsigned char*)mcodes < bytes + size,
              "memory view does not point into the buffer");
        CHECK(qs_view_low_e(by_callback, i, &codes, &scales, err) == QS_ERR_NOT_AVAILABLE, "callback view");
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        qs_tensor_info_get_e(by_callback, i, &info, err);
        CHECK(info.low_codes_are_raw == 0, "a callback source has no zero-copy view");
    }
    CHECK(c.releases == 0, "release before close");
    qs_close(by_callback);
    CHECK(c.releases == 1, "release not called exactly once by qs_close");
    /* A failing read_at (on a fresh handle: nothing read ahead yet): QS_ERR_IO naming the source. */
    CHECK(qs_open_source_e(&src, NULL, &by_callback, err) == QS_OK, qs_error_message(err));
    c.fail_reads = 1;
    for (i = 0; by_callback && i < qs_tensor_count(by_callback); ++i) {
        qs_tensor_info info;
        unsigned char* out;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        qs_tensor_info_get_e(by_callback, i, &info, err);
        if (info.high_bytes == 0) continue;
        out = (unsigned char*)malloc((size_t)info.high_bytes);
        CHECK(qs_load_high_e(by_callback, i, out, (size_t)info.high_bytes, err) == QS_ERR_IO, "read failure status");
        CHECK(strstr(qs_error_message(err), path) != NULL, qs_error_message(err));
        free(out);
        break;
    }
    c.fail_reads = 0;
    qs_close(by_callback);
    CHECK(c.releases == 2, "release not called exactly once by qs_close");
    qs_close(in_memory);
    qs_close(by_path);
    free(bytes);
    qs_error_free(err);
}

/* release once on every failure: not a qstore file, a failing read, bad arguments. */
static void check_failures(void) {
    static unsigned char garbage[200] = "not a qstore file";
    qs_error* err = qs_error_new();
    counting c;
    qs_source src;
    qs_file* f = (qs_file*)&c;
    qs_open_options bad = qs_open_options_default();
    counting_init(&c, garbage, sizeof garbage);
    src = source_of(&c, "garbage-source");
    CHECK(qs_open_source_e(&src, NULL, &f, err) == QS_ERR_NOT_QSTORE && f == NULL, "garbage status");
    CHECK(strstr(qs_error_message(err), "garbage-source") != NULL, qs_error_message(err));
    CHECK(c.releases == 1, "release after a failed open");
    c.fail_reads = 1;
    CHECK(qs_open_source_e(&src, NULL, &f, err) == QS_ERR_IO, "failing read status");
    CHECK(strstr(qs_error_message(err), "garbage-source") != NULL, qs_error_message(err));
    CHECK(c.releases == 2, "release after a failed read");
    src.read_at = NULL;
    CHECK(qs_open_source_e(&src, NULL, &f, err) == QS_ERR_INVALID_ARGUMENT, "NULL read_at");
    CHECK(c.releases == 3, "release after NULL read_at");
    src.read_at = counting_read;
    bad.reserved[0] = 1;
    CHECK(qs_open_source_e(&src, &bad, &f, err) == QS_ERR_INVALID_ARGUMENT, "bad options");
    CHECK(c.releases == 4, "release after bad options");
    CHECK(qs_open_source_e(NULL, NULL, &f, err) == QS_ERR_INVALID_ARGUMENT, "NULL source");
    CHECK(qs_open_memory_e(NULL, 10, NULL, &f, err) == QS_ERR_INVALID_ARGUMENT, "NULL memory");
    CHECK(qs_open_memory_e(garbage, sizeof garbage, NULL, &f, err) == QS_ERR_NOT_QSTORE, "garbage memory");
    CHECK(qs_open_memory_e(garbage, 0, NULL, &f, err) == QS_ERR_NOT_QSTORE, "empty memory");
    qs_error_free(err);
}

int main(int argc, char** argv) {
    const char* names[] = {"model.qs", "model-raw.qs", "chain.qs", "large.qs", "container.safetensors"};
    char path[1024];
    size_t k;
    if (argc != 3) { fprintf(stderr, "usage: %s WORK_DIR MODEL.qs\n", argv[0]); return 2; }
    for (k = 0; k < sizeof names / sizeof names[0]; ++k) {
        snprintf(path, sizeof path, "%s/%s", argv[1], names[k]);
        check_file(path, strstr(names[k], "container") ? 4 : 2);
    }
    check_failures();
    if (g_failures) { fprintf(stderr, "%d failures\n", g_failures); return 1; }
    printf("ok: memory and callback sources load every level as the file does\n");
    return 0;
}
