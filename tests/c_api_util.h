/* Helpers shared by the C tests of the 1.4 API (one translation unit each, hence static):
 * CHECK, reading a whole file, a read-at callback over memory that counts its calls and
 * the bytes it was asked for, and loading one level of a tensor into one block. */
#ifndef QSTORE_TESTS_C_API_UTIL_H
#define QSTORE_TESTS_C_API_UTIL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qstore/qstore.h"

static int g_failures;

#define CHECK(cond, what)                                                       \
    do {                                                                        \
        if (!(cond)) {                                                          \
            ++g_failures;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what);     \
        }                                                                       \
    } while (0)

/* The bytes of a file, and a read_at callback over them that counts its calls. */
typedef struct counting {
    unsigned char* bytes;
    uint64_t size;
    pthread_mutex_t lock;
    unsigned calls;
    uint64_t max_end;   /* largest offset + n asked for */
    uint64_t asked;     /* bytes asked for in all */
    int fail_reads;     /* 1: every read_at fails */
    unsigned releases;
} counting;

static inline int counting_read(void* user, uint64_t offset, void* buffer, size_t n) {
    counting* c = (counting*)user;
    pthread_mutex_lock(&c->lock);
    ++c->calls;
    if (offset + n > c->max_end) c->max_end = offset + n;
    c->asked += n;
    pthread_mutex_unlock(&c->lock);
    if (c->fail_reads || offset > c->size || n > c->size - offset) return 1;
    memcpy(buffer, c->bytes + offset, n);
    return 0;
}

static inline void counting_release(void* user) { ++((counting*)user)->releases; }

static inline unsigned char* read_whole(const char* path, uint64_t* size) {
    FILE* f = fopen(path, "rb");
    unsigned char* p = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        p = (unsigned char*)malloc((size_t)n + 1);
        if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
        *size = (uint64_t)n;
    }
    fclose(f);
    return p;
}

static inline void counting_init(counting* c, unsigned char* bytes, uint64_t size) {
    memset(c, 0, sizeof *c);
    c->bytes = bytes;
    c->size = size;
    pthread_mutex_init(&c->lock, NULL);
}

static inline qs_source source_of(counting* c, const char* name) {
    qs_source s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.name = name;
    s.size = c->size;
    s.user_data = c;
    s.read_at = counting_read;
    s.release = counting_release;
    return s;
}

/* Level `level` of tensor i into one malloc'd block (codes, scales, zero points). */
static inline unsigned char* load_level(qs_file* f, size_t i, uint32_t level, size_t* total, qs_error* err) {
    qs_level_info li;
    unsigned char* p;
    memset(&li, 0, sizeof li);
    li.struct_size = sizeof li;
    if (qs_level_info_get_e(f, i, level, &li, err) != QS_OK) return NULL;
    *total = (size_t)(li.code_bytes + li.scale_bytes + li.zero_point_bytes);
    p = (unsigned char*)calloc(*total + 1, 1);
    if (!p) return NULL;
    if (qs_load_level_e(f, i, level, p, (size_t)li.code_bytes, p + li.code_bytes, (size_t)li.scale_bytes,
                        li.zero_point_bytes ? p + li.code_bytes + li.scale_bytes : NULL,
                        (size_t)li.zero_point_bytes, err) != QS_OK) {
        free(p);
        return NULL;
    }
    return p;
}

#endif
