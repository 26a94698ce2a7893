/* Errors that belong to the call (qs_error), from many threads at once: the defect of
 * issue 22, where goroutines moving between OS threads read another call's message.
 *   c_api_errors WORK_DIR MODEL.qs
 * 16 threads each make failing opens (a missing file and a non-qstore file of their own)
 * and failing loads (buffer too small, on their own copy of MODEL.qs), each with its own
 * qs_error; every message must name that thread's own path. Also: err NULL sets the
 * thread-local message; a message stays until the next call using its qs_error. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qstore/qstore.h"

#define THREADS 16
#define ROUNDS 400

static const char* g_dir;
static const char* g_model;
static int g_failures;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char* what, const char* detail) {
    pthread_mutex_lock(&g_lock);
    ++g_failures;
    if (g_failures < 20) fprintf(stderr, "FAIL: %s: %s\n", what, detail);
    pthread_mutex_unlock(&g_lock);
}

static int copy_file(const char* from, const char* to) {
    FILE* in = fopen(from, "rb");
    FILE* out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok;
}

static void expect(const qs_error* err, qs_status want, const char* path, const char* what) {
    if (qs_error_status(err) != want) fail(what, qs_error_message(err));
    else if (!strstr(qs_error_message(err), path)) fail(what, qs_error_message(err));
}

static void* worker(void* arg) {
    const int id = (int)(size_t)arg;
    char missing[512], garbage[512], copy[512];
    qs_error* err = qs_error_new();
    qs_file* f = NULL;
    unsigned char small[4];
    int r;
    snprintf(missing, sizeof missing, "%s/missing-thread-%d.qs", g_dir, id);
    snprintf(garbage, sizeof garbage, "%s/garbage-thread-%d.qs", g_dir, id);
    snprintf(copy, sizeof copy, "%s/model-thread-%d.qs", g_dir, id);
    if (!err) { fail("qs_error_new", "NULL"); return NULL; }
    {
        FILE* g = fopen(garbage, "wb");
        int ok = g && fputs("this is not a qstore file, thread garbage", g) >= 0;
        if (g && fclose(g) != 0) ok = 0;
        if (!ok || !copy_file(g_model, copy)) { fail("setup", copy); qs_error_free(err); return NULL; }
    }
    if (qs_open_e(copy, NULL, &f, err) != QS_OK) { fail("open copy", qs_error_message(err)); qs_error_free(err); return NULL; }
    for (r = 0; r < ROUNDS; ++r) {
        qs_file* g = (qs_file*)&r; /* must be reset to NULL by the failing open */
        if (qs_open_e(missing, NULL, &g, err) != QS_ERR_IO || g != NULL) fail("missing file status", missing);
        expect(err, QS_ERR_IO, missing, "missing file message");
        if (qs_open_e(garbage, NULL, &g, err) != QS_ERR_NOT_QSTORE) fail("garbage status", garbage);
        expect(err, QS_ERR_NOT_QSTORE, garbage, "garbage message");
        if (qs_load_high_e(f, (size_t)r % qs_tensor_count(f), small, 0, err) != QS_ERR_BUFFER_TOO_SMALL)
            fail("small buffer status", copy);
        expect(err, QS_ERR_BUFFER_TOO_SMALL, copy, "small buffer message");
        if (qs_load_level_e(f, 0, 99, small, sizeof small, NULL, 0, NULL, 0, err) != QS_ERR_INVALID_ARGUMENT)
            fail("missing level status", copy);
        expect(err, QS_ERR_INVALID_ARGUMENT, copy, "missing level message");
    }
    qs_close(f);
    qs_error_free(err);
    return NULL;
}

/* err NULL: the thread-local message; a qs_error's message survives other calls. */
static void single_thread_checks(void) {
    char missing[512];
    qs_error* a = qs_error_new();
    qs_error* b = qs_error_new();
    qs_file* f = NULL;
    size_t index = 0;
    const char* kept;
    char before[1024];
    snprintf(missing, sizeof missing, "%s/missing-single.qs", g_dir);
    if (qs_error_status(a) != QS_OK || strcmp(qs_error_message(a), "") != 0) fail("fresh error", "not OK/empty");
    if (qs_open_e(missing, NULL, &f, NULL) != QS_ERR_IO) fail("NULL err status", missing);
    if (!strstr(qs_last_error_message(), missing)) fail("NULL err thread message", qs_last_error_message());
    if (qs_open_e(missing, NULL, &f, a) != QS_ERR_IO) fail("err a status", missing);
    kept = qs_error_message(a);
    snprintf(before, sizeof before, "%s", kept);
    /* Calls with another error object, with none, and successful ones leave `a` alone. */
    if (qs_open_e(g_model, NULL, &f, b) != QS_OK) fail("open with b", qs_error_message(b));
    if (qs_error_status(b) != QS_OK || strcmp(qs_error_message(b), "") != 0) fail("b after success", "not OK/empty");
    if (qs_find_tensor_e(f, "no such tensor", &index, b) != QS_ERR_NOT_FOUND) fail("find with b", "status");
    if (!strstr(qs_error_message(b), "no such tensor")) fail("find message", qs_error_message(b));
    if (qs_find_tensor(f, "no such tensor either", &index) != QS_ERR_NOT_FOUND) fail("find 1.0", "status");
    if (!strstr(qs_last_error_message(), "no such tensor either")) fail("1.0 message", qs_last_error_message());
    if (strcmp(qs_error_message(a), before) != 0 || qs_error_message(a) != kept) fail("a changed", qs_error_message(a));
    if (qs_error_status(a) != QS_ERR_IO) fail("a status changed", "");
    /* An `_e` call with an error object leaves the thread's message alone. */
    if (qs_verify_e(f, a) != QS_OK) fail("verify", qs_error_message(a));
    if (!strstr(qs_last_error_message(), "no such tensor either")) fail("thread message touched", qs_last_error_message());
    if (qs_error_status(a) != QS_OK || strcmp(qs_error_message(a), "") != 0) fail("a after success", "not OK/empty");
    /* NULL arguments are reported, never a crash. */
    if (qs_tensor_info_get_e(NULL, 0, NULL, a) != QS_ERR_INVALID_ARGUMENT) fail("NULL file", "status");
    if (qs_error_status(NULL) != QS_ERR_INVALID_ARGUMENT || strcmp(qs_error_message(NULL), "") != 0)
        fail("NULL error object", "");
    qs_error_free(NULL);
    qs_close(f);
    qs_error_free(a);
    qs_error_free(b);
}

int main(int argc, char** argv) {
    pthread_t threads[THREADS];
    size_t i;
    if (argc != 3) { fprintf(stderr, "usage: %s WORK_DIR MODEL.qs\n", argv[0]); return 2; }
    g_dir = argv[1];
    g_model = argv[2];
    single_thread_checks();
    for (i = 0; i < THREADS; ++i)
        if (pthread_create(&threads[i], NULL, worker, (void*)i) != 0) { fprintf(stderr, "pthread_create\n"); return 1; }
    for (i = 0; i < THREADS; ++i) pthread_join(threads[i], NULL);
    if (g_failures) { fprintf(stderr, "%d failures\n", g_failures); return 1; }
    printf("ok: %d threads x %d rounds, every message named its own thread's path\n", THREADS, ROUNDS);
    return 0;
}
