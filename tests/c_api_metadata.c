/* The metadata functions on a packed model (qs_metadata_*).
 *   c_api_metadata WORK_DIR MODEL.qs
 * MODEL.qs was packed from qstore_make_fixture's model, whose __metadata__ is
 * {"format": "pt", "generator": "qstore_make_fixture"}: both entries come back in the
 * file's order, as single strings, from a path and from memory; lookups and bad
 * arguments give their statuses. */
#include "c_api_util.h"

static void check_entries(qs_file* f, qs_error* err) {
    const char* keys[] = {"format", "generator"};
    const char* values[] = {"pt", "qstore_make_fixture"};
    size_t i, index = 99;
    const char* s = NULL;
    uint64_t n = 0;
    qs_metadata_entry e;
    CHECK(qs_metadata_count(f) == 2, "two entries");
    for (i = 0; i < 2; ++i) {
        memset(&e, 0, sizeof e);
        e.struct_size = sizeof e;
        CHECK(qs_metadata_get_e(f, i, &e, err) == QS_OK, qs_error_message(err));
        CHECK(e.key && strcmp(e.key, keys[i]) == 0, "key in file order");
        CHECK(e.type == QS_VALUE_STRING && !e.is_array && e.count == 1, "a single string");
        CHECK(e.string && strcmp(e.string, values[i]) == 0 && e.string_bytes == strlen(values[i]), "value");
        CHECK(e.values == NULL, "no values for a string");
        CHECK(qs_find_metadata_e(f, keys[i], &index, err) == QS_OK && index == i, "find");
        CHECK(qs_metadata_string_at_e(f, i, 0, &s, &n, err) == QS_OK && s == e.string && n == e.string_bytes,
              "string_at 0 is the single string");
    }
    CHECK(qs_find_metadata_e(f, "no such key", &index, err) == QS_ERR_NOT_FOUND, "missing key");
    CHECK(strstr(qs_error_message(err), "no such key") != NULL, qs_error_message(err));
    CHECK(qs_metadata_get_e(f, 2, &e, err) == QS_ERR_INVALID_ARGUMENT, "index out of range");
    CHECK(qs_metadata_string_at_e(f, 0, 1, &s, &n, err) == QS_ERR_INVALID_ARGUMENT, "element out of range");
    e.struct_size = 8;
    CHECK(qs_metadata_get_e(f, 0, &e, err) == QS_ERR_INVALID_ARGUMENT, "struct_size too small");
    CHECK(qs_metadata_get_e(f, 0, NULL, err) == QS_ERR_INVALID_ARGUMENT, "NULL entry");
    CHECK(qs_find_metadata_e(f, NULL, &index, err) == QS_ERR_INVALID_ARGUMENT, "NULL key");
}

int main(int argc, char** argv) {
    qs_error* err = qs_error_new();
    qs_file *f = NULL, *m = NULL;
    uint64_t size = 0;
    unsigned char* bytes;
    if (argc != 3) { fprintf(stderr, "usage: %s WORK_DIR MODEL.qs\n", argv[0]); return 2; }
    bytes = read_whole(argv[2], &size);
    CHECK(qs_open_e(argv[2], NULL, &f, err) == QS_OK, qs_error_message(err));
    CHECK(bytes && qs_open_memory_e(bytes, (size_t)size, NULL, &m, err) == QS_OK, qs_error_message(err));
    if (f) check_entries(f, err);
    if (m) check_entries(m, err);
    CHECK(qs_metadata_count(NULL) == 0, "NULL file");
    qs_close(f);
    qs_close(m);
    free(bytes);
    qs_error_free(err);
    if (g_failures) { fprintf(stderr, "%d failures\n", g_failures); return 1; }
    printf("ok: metadata entries in order, typed, found\n");
    return 0;
}
