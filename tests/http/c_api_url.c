/* c_api_url URL LOCAL.qs BAD_URL
 * qs_open_url_e against the same file opened locally: the same tensors, and every
 * tensor's low and high loads byte for byte equal, from two threads' worth of batch
 * loads too; then BAD_URL (a 404) fails with QS_ERR_IO naming it, and a non-HTTP URL
 * with QS_ERR_UNSUPPORTED. Prints "ok" and exits 0, or says what differs and exits 1. */
#include <qstore/qstore.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char* what, const qs_error* err) {
    fprintf(stderr, "c_api_url: %s: %s\n", what, err ? qs_error_message(err) : "");
    return 1;
}

/* Loads tensor i at both precisions from a and b and compares. */
static int same_tensor(qs_file* a, qs_file* b, size_t i, qs_error* err) {
    qs_tensor_info ia, ib;
    memset(&ia, 0, sizeof ia);
    memset(&ib, 0, sizeof ib);
    ia.struct_size = ib.struct_size = sizeof ia;
    if (qs_tensor_info_get_e(a, i, &ia, err) || qs_tensor_info_get_e(b, i, &ib, err)) return fail("info", err);
    if (strcmp(ia.name, ib.name) != 0 || ia.high_bytes != ib.high_bytes) return fail("tensor tables differ", NULL);
    size_t low = (size_t)(ia.low_code_bytes + ia.low_scale_bytes), high = (size_t)ia.high_bytes;
    unsigned char* buf = malloc(2 * (low + high) + 2);
    if (!buf) return fail("out of memory", NULL);
    unsigned char *la = buf, *lb = la + low + 1, *ha = lb + low + 1, *hb = ha + high;
    int bad = qs_load_low_e(a, i, la, ia.low_code_bytes, la + ia.low_code_bytes, ia.low_scale_bytes, err) ||
              qs_load_low_e(b, i, lb, ib.low_code_bytes, lb + ib.low_code_bytes, ib.low_scale_bytes, err) ||
              qs_load_high_e(a, i, ha, high, err) || qs_load_high_e(b, i, hb, high, err);
    if (!bad && (memcmp(la, lb, low) != 0 || memcmp(ha, hb, high) != 0)) {
        free(buf);
        return fail(ia.name, NULL);
    }
    free(buf);
    return bad ? fail("load", err) : 0;
}

/* qs_load_high_many_e of every tensor of the remote file equals the local loads. */
static int same_many(qs_file* remote, qs_file* local, qs_error* err) {
    size_t n = qs_tensor_count(remote), total = 0;
    size_t* idx = calloc(n + 1, sizeof *idx);
    size_t* sizes = calloc(n + 1, sizeof *sizes);
    void** outs = calloc(n + 1, sizeof *outs);
    int r = 0;
    for (size_t i = 0; i < n; ++i) {
        qs_tensor_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        qs_tensor_info_get_e(remote, i, &info, err);
        idx[i] = i;
        sizes[i] = (size_t)info.high_bytes;
        total += sizes[i];
    }
    unsigned char* all = malloc(total + 1);
    unsigned char* one = malloc(total + 1);
    for (size_t i = 0, at = 0; i < n; at += sizes[i], ++i) outs[i] = all + at;
    if (qs_load_high_many_e(remote, n, idx, outs, sizes, err) != QS_OK) r = fail("load_high_many", err);
    for (size_t i = 0, at = 0; !r && i < n; at += sizes[i], ++i) {
        if (qs_load_high_e(local, i, one + at, sizes[i], err) != QS_OK) r = fail("local load", err);
        else if (memcmp(one + at, all + at, sizes[i]) != 0) r = fail("load_high_many differs", NULL);
    }
    free(all), free(one), free(idx), free(sizes), free(outs);
    return r;
}

int main(int argc, char** argv) {
    if (argc != 4) return fail("usage: c_api_url URL LOCAL.qs BAD_URL", NULL);
    qs_error* err = qs_error_new();
    qs_file *remote = NULL, *local = NULL;
    if (qs_open_url_e(argv[1], NULL, &remote, err) != QS_OK) return fail("qs_open_url_e", err);
    if (qs_open_e(argv[2], NULL, &local, err) != QS_OK) return fail("qs_open_e", err);
    if (qs_tensor_count(remote) != qs_tensor_count(local) || qs_tensor_count(remote) == 0)
        return fail("tensor counts differ", NULL);
    for (size_t i = 0; i < qs_tensor_count(remote); ++i)
        if (same_tensor(remote, local, i, err)) return 1;
    if (same_many(remote, local, err)) return 1;
    const void *codes = NULL, *scales = NULL;
    if (qs_view_low_e(remote, 0, &codes, &scales, err) != QS_ERR_NOT_AVAILABLE) return fail("qs_view_low_e", err);
    if (qs_verify_e(remote, err) != QS_OK) return fail("qs_verify_e", err);
    qs_close(remote);
    qs_close(local);
    qs_file* f = (qs_file*)1;
    if (qs_open_url_e(argv[3], NULL, &f, err) != QS_ERR_IO || f != NULL ||
        strstr(qs_error_message(err), "HTTP 404") == NULL || strstr(qs_error_message(err), argv[3]) == NULL)
        return fail("a 404 URL", err);
    if (qs_open_url_e("ftp://127.0.0.1/x.qs", NULL, &f, err) != QS_ERR_UNSUPPORTED) return fail("an ftp URL", err);
    if (qs_open_url_e(NULL, NULL, &f, err) != QS_ERR_INVALID_ARGUMENT) return fail("a NULL URL", err);
    qs_error_free(err);
    printf("ok\n");
    return 0;
}
