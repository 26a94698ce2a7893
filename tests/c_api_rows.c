/* Row ranges through a counting callback: without checksums, a range reads only the
 * coding blocks of its rows.
 *   c_api_rows WORK_DIR MODEL.qs
 * On large.qs (run_c_api_test.sh: a 1024 x 1024 BF16 tensor in 4 blocks of 256 rows),
 * rows [300, 310) at level 0 and at the high level equal the slices of whole loads, and
 * read less than half of the tensor's stored bytes of the levels they need (one block
 * of four per level); with checksums on, the same rows read whole parts and are equal. */
#include "c_api_util.h"

/* Rows [first, first + count) of tensor i at `level`, into one block; NULL on failure. */
static unsigned char* load_rows(qs_file* f, size_t i, uint32_t level, uint64_t first, uint64_t count, size_t* total,
                                qs_error* err) {
    qs_level_info li;
    unsigned char* p;
    memset(&li, 0, sizeof li);
    li.struct_size = sizeof li;
    if (qs_rows_level_info_get_e(f, i, level, first, count, &li, err) != QS_OK) return NULL;
    *total = (size_t)(li.code_bytes + li.scale_bytes + li.zero_point_bytes);
    p = (unsigned char*)calloc(*total + 1, 1);
    if (p && qs_load_level_rows_e(f, i, level, first, count, p, (size_t)li.code_bytes, p + li.code_bytes,
                                  (size_t)li.scale_bytes, p + li.code_bytes + li.scale_bytes,
                                  (size_t)li.zero_point_bytes, err) != QS_OK) {
        free(p);
        return NULL;
    }
    return p;
}

static void check(const unsigned char* bytes, uint64_t size, int verify, qs_error* err) {
    counting c;
    qs_source src;
    qs_file* f = NULL;
    qs_open_options o = qs_open_options_default();
    size_t index = 0, n = 0, whole_n = 0;
    uint32_t level;
    uint64_t stored = 0; /* stored bytes of levels 0..level, which a load of `level` needs */
    o.verify_checksums = verify;
    o.num_threads = 1;
    counting_init(&c, (unsigned char*)bytes, size);
    src = source_of(&c, "large");
    CHECK(qs_open_source_e(&src, &o, &f, err) == QS_OK, qs_error_message(err));
    if (!f) return;
    CHECK(qs_find_tensor_e(f, "large.0.weight", &index, err) == QS_OK, qs_error_message(err));
    for (level = 0; level < 2; ++level) {
        qs_level_info li;
        qs_file* g = NULL;
        unsigned char *rows, *whole;
        uint64_t before;
        memset(&li, 0, sizeof li);
        li.struct_size = sizeof li;
        qs_level_info_get_e(f, index, level, &li, err);
        stored += li.stored_bytes;
        before = c.asked;
        rows = load_rows(f, index, level, 300, 10, &n, err);
        CHECK(rows != NULL, qs_error_message(err));
        if (verify) CHECK(c.asked - before >= stored, "with checksums, whole parts are read");
        else CHECK(c.asked - before < stored / 2, "without checksums, only the blocks of the rows");
        /* The slice of a whole load (another handle: this one's counts stay clean). */
        CHECK(qs_open_memory_e(bytes, (size_t)size, NULL, &g, err) == QS_OK, qs_error_message(err));
        whole = g ? load_level(g, index, level, &whole_n, err) : NULL;
        CHECK(whole != NULL, qs_error_message(err));
        if (rows && whole) {
            const size_t row_codes = (size_t)(li.code_bytes / 1024);
            CHECK(memcmp(rows, whole + 300 * row_codes, 10 * row_codes) == 0, "codes of the rows");
            if (level == 0) /* int8-row: the rows' own scales */
                CHECK(memcmp(rows + 10 * row_codes, whole + li.code_bytes + 300 * 4, 10 * 4) == 0, "scales");
        }
        free(rows);
        free(whole);
        qs_close(g);
    }
    qs_close(f);
}

int main(int argc, char** argv) {
    qs_error* err = qs_error_new();
    char path[1024];
    uint64_t size = 0;
    unsigned char* bytes;
    if (argc != 3) { fprintf(stderr, "usage: %s WORK_DIR MODEL.qs\n", argv[0]); return 2; }
    snprintf(path, sizeof path, "%s/large.qs", argv[1]);
    bytes = read_whole(path, &size);
    CHECK(bytes != NULL, path);
    if (bytes) {
        check(bytes, size, 0, err);
        check(bytes, size, 1, err);
    }
    free(bytes);
    qs_error_free(err);
    if (g_failures) { fprintf(stderr, "%d failures\n", g_failures); return 1; }
    printf("ok: row ranges read only their blocks without checksums\n");
    return 0;
}
