/*
 * c_api_smoke MODEL.qs ORIGINAL.safetensors
 *
 * A pure C99 consumer of the INSTALLED libqstore (compiled with
 * gcc -std=c99 -pedantic -Wall -Wextra -Werror and `pkg-config --cflags --libs qstore`).
 * For every tensor of MODEL.qs it loads both precisions and checks them against the
 * original safetensors file, parsed here by hand:
 *   - qs_load_high returns exactly the original bytes;
 *   - qs_load_low of a passthrough tensor returns the original bytes, and of an INT8
 *     tensor the codes and scales of the documented quantizer, recomputed here:
 *       scale = max |w| over finite values (float32),
 *       code  = clamp(round_half_even(w * (127.0f / scale)), -127, 127), NaN -> 0, scale 0 -> 0,
 *       where 127 / scale overflows (format 1.5): (w * 2^64) * (127 / (scale * 2^64)).
 * Exit status 0 only if everything matches.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qstore/qstore.h>

static int failures = 0;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            ++failures;                                               \
            fprintf(stderr, "c_api_smoke: FAILED %s: ", #cond);       \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, " (%s)\n", qs_last_error_message());      \
        }                                                             \
    } while (0)

static unsigned char* read_all(const char* path, size_t* size) {
    FILE* f = fopen(path, "rb");
    unsigned char* buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = (unsigned char*)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static const char* skip_ws(const char* p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') ++p;
    return p;
}

/* Finds the JSON object of tensor `name` in the safetensors header and reads its dtype
 * and data offsets. Returns 1 on success. Only what safetensors writers produce is
 * handled: "name": {"dtype": "X", "shape": [..], "data_offsets": [a, b]}. */
static int find_tensor_json(const char* header, const char* name, char* dtype, size_t dtype_size,
                            unsigned long long* begin, unsigned long long* end) {
    const size_t len = strlen(name);
    const char* p = header;
    while ((p = strchr(p, '"')) != NULL) {
        const char* k = p + 1;
        const char* q;
        const char* obj_end;
        const char* d;
        if (strncmp(k, name, len) != 0 || k[len] != '"') {
            /* skip this string */
            q = k;
            while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1;
            p = *q ? q + 1 : q;
            continue;
        }
        q = skip_ws(k + len + 1);
        if (*q != ':') {
            p = k + len + 1;
            continue;
        }
        q = skip_ws(q + 1);
        if (*q != '{') return 0;
        obj_end = strchr(q, '}');
        if (!obj_end) return 0;
        d = strstr(q, "\"dtype\"");
        if (!d || d > obj_end) return 0;
        d = skip_ws(d + 7);
        if (*d != ':') return 0;
        d = skip_ws(d + 1);
        if (*d != '"') return 0;
        ++d;
        {
            size_t n = 0;
            while (d[n] && d[n] != '"' && n + 1 < dtype_size) {
                dtype[n] = d[n];
                ++n;
            }
            dtype[n] = '\0';
        }
        d = strstr(q, "\"data_offsets\"");
        if (!d || d > obj_end) return 0;
        d = skip_ws(d + 14);
        if (*d != ':') return 0;
        d = skip_ws(d + 1);
        if (*d != '[') return 0;
        {
            char* e;
            *begin = strtoull(d + 1, &e, 10);
            e = (char*)skip_ws(e);
            if (*e != ',') return 0;
            *end = strtoull(e + 1, &e, 10);
        }
        return 1;
    }
    return 0;
}

static float f16_to_f32(uint16_t h) {
    const int e = (h >> 10) & 0x1F;
    const int m = h & 0x3FF;
    float v;
    if (e == 31) v = m ? (float)NAN : (float)INFINITY;
    else if (e == 0) v = (float)ldexp((double)m, -24);
    else v = (float)ldexp((double)(1024 + m), e - 25);
    return (h & 0x8000u) ? -v : v;
}

static float element(const unsigned char* data, qs_dtype t, uint64_t i) {
    if (t == QS_DTYPE_F32) {
        float f;
        memcpy(&f, data + 4 * i, 4);
        return f;
    } else {
        uint16_t h;
        memcpy(&h, data + 2 * i, 2);
        if (t == QS_DTYPE_F16) return f16_to_f32(h);
        {
            uint32_t u = (uint32_t)h << 16;
            float f;
            memcpy(&f, &u, 4);
            return f;
        }
    }
}

static int round_half_even(float v) {
    double r = floor((double)v);
    double d = (double)v - r;
    if (d > 0.5 || (d == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
    return (int)r;
}

/* Reference INT8 row quantization of one tensor; returns the number of mismatches. */
static long check_int8(const char* name, const unsigned char* high, qs_dtype t, uint64_t rows, uint64_t cols,
                       const int8_t* codes, const float* scales) {
    long bad = 0;
    uint64_t r, c;
    for (r = 0; r < rows; ++r) {
        float scale = 0.0f;
        volatile float inv;
        int tiny;
        for (c = 0; c < cols; ++c) {
            float a = fabsf(element(high, t, r * cols + c));
            if (isfinite(a) && a > scale) scale = a;
        }
        if (memcmp(&scale, &scales[r], 4) != 0) {
            if (bad++ < 5) fprintf(stderr, "c_api_smoke: %s: row %lu scale %g, expected %g\n", name, (unsigned long)r, scales[r], scale);
        }
        inv = scale > 0.0f ? 127.0f / scale : 0.0f;
        tiny = isinf(inv);
        if (tiny) inv = 127.0f / (scale * 18446744073709551616.0f);
        for (c = 0; c < cols; ++c) {
            volatile float v = element(high, t, r * cols + c) * (tiny ? 18446744073709551616.0f : 1.0f) * inv;
            float vv = v;
            int code;
            if (scale == 0.0f || isnan(vv)) code = 0;
            else if (vv >= 127.0f) code = 127;
            else if (vv <= -127.0f) code = -127;
            else code = round_half_even(vv);
            if (codes[r * cols + c] != code) {
                if (bad++ < 5)
                    fprintf(stderr, "c_api_smoke: %s: element %lu code %d, expected %d\n", name,
                            (unsigned long)(r * cols + c), codes[r * cols + c], code);
            }
        }
    }
    return bad;
}

int main(int argc, char** argv) {
    qs_file* f = NULL;
    qs_status st;
    size_t i, count, st_size = 0, quantized = 0;
    unsigned char* st_bytes;
    unsigned long long header_len = 0;
    char* header;
    const unsigned char* data;
    int k;

    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.qs ORIGINAL.safetensors\n", argv[0]);
        return 2;
    }
    CHECK(qs_version_number() == QS_VERSION_NUMBER, "library %u, header %d", qs_version_number(), QS_VERSION_NUMBER);
    CHECK(strlen(qs_version_string()) > 0, "version string");
    for (k = QS_OK; k <= QS_ERR_INTERNAL; ++k) CHECK(strlen(qs_status_string((qs_status)k)) > 0, "status %d", k);

    st_bytes = read_all(argv[2], &st_size);
    if (!st_bytes || st_size < 8) {
        fprintf(stderr, "c_api_smoke: cannot read %s\n", argv[2]);
        return 1;
    }
    for (k = 7; k >= 0; --k) header_len = (header_len << 8) | st_bytes[k];
    if (header_len > st_size - 8) {
        fprintf(stderr, "c_api_smoke: bad safetensors header\n");
        return 1;
    }
    header = (char*)malloc((size_t)header_len + 1);
    memcpy(header, st_bytes + 8, (size_t)header_len);
    header[header_len] = '\0';
    data = st_bytes + 8 + header_len;

    st = qs_open(argv[1], &f);
    if (st != QS_OK) {
        fprintf(stderr, "c_api_smoke: qs_open(%s): %s: %s\n", argv[1], qs_status_string(st), qs_last_error_message());
        return 1;
    }
    count = qs_tensor_count(f);
    CHECK(count > 0, "tensor count");

    for (i = 0; i < count; ++i) {
        qs_tensor_info info;
        char dtype[32];
        unsigned long long begin = 0, end = 0;
        unsigned char* high;
        unsigned char* codes;
        float* scales;
        size_t found = (size_t)-1;
        uint64_t rows = 1, cols, d;

        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        st = qs_tensor_info_get(f, i, &info);
        CHECK(st == QS_OK, "qs_tensor_info_get(%lu)", (unsigned long)i);
        if (st != QS_OK) continue;
        CHECK(qs_find_tensor(f, info.name, &found) == QS_OK && found == i, "qs_find_tensor(%s)", info.name);
        if (!find_tensor_json(header, info.name, dtype, sizeof dtype, &begin, &end)) {
            CHECK(0, "tensor %s not found in %s", info.name, argv[2]);
            continue;
        }
        CHECK(end - begin == info.high_bytes, "%s: high_bytes %lu vs %llu", info.name, (unsigned long)info.high_bytes,
              end - begin);
        CHECK((strcmp(dtype, "F32") == 0) == (info.high_dtype == QS_DTYPE_F32), "%s: dtype %s", info.name, dtype);
        CHECK((strcmp(dtype, "BF16") == 0) == (info.high_dtype == QS_DTYPE_BF16), "%s: dtype %s", info.name, dtype);
        CHECK((strcmp(dtype, "F16") == 0) == (info.high_dtype == QS_DTYPE_F16), "%s: dtype %s", info.name, dtype);
        if (end - begin != info.high_bytes || end > st_size - 8 - header_len) continue;

        /* high: the original bytes, nothing written past them */
        high = (unsigned char*)malloc((size_t)info.high_bytes + 1);
        high[info.high_bytes] = 0xA7;
        st = qs_load_high(f, i, high, (size_t)info.high_bytes);
        CHECK(st == QS_OK, "qs_load_high(%s)", info.name);
        CHECK(memcmp(high, data + begin, (size_t)info.high_bytes) == 0, "%s: high bytes differ from the original", info.name);
        CHECK(high[info.high_bytes] == 0xA7, "%s: wrote past the buffer", info.name);
        if (info.high_bytes > 0) {
            CHECK(qs_load_high(f, i, high, (size_t)info.high_bytes - 1) == QS_ERR_BUFFER_TOO_SMALL, "%s: small buffer",
                  info.name);
        }

        /* low */
        codes = (unsigned char*)malloc((size_t)info.low_code_bytes + 1);
        scales = (float*)malloc((size_t)info.low_scale_bytes + 4);
        st = qs_load_low(f, i, codes, (size_t)info.low_code_bytes, scales, (size_t)info.low_scale_bytes);
        CHECK(st == QS_OK, "qs_load_low(%s)", info.name);
        if (info.low_scheme == QS_LOW_PASSTHROUGH) {
            CHECK(info.low_scale_bytes == 0, "%s: passthrough scales", info.name);
            CHECK(info.low_code_bytes == info.high_bytes, "%s: passthrough size", info.name);
            CHECK(memcmp(codes, data + begin, (size_t)info.high_bytes) == 0, "%s: passthrough low differs", info.name);
        } else {
            ++quantized;
            CHECK(info.low_scheme == QS_LOW_INT8_ROW, "%s: scheme", info.name);
            CHECK(info.low_dtype == QS_DTYPE_I8, "%s: low dtype", info.name);
            rows = info.shape[0];
            cols = 1;
            for (d = 1; d < info.ndim; ++d) cols *= info.shape[d];
            CHECK(info.low_code_bytes == rows * cols, "%s: code bytes", info.name);
            CHECK(info.low_scale_bytes == rows * 4, "%s: scale bytes", info.name);
            if (st == QS_OK && info.low_code_bytes == rows * cols && info.low_scale_bytes == rows * 4) {
                long bad = check_int8(info.name, data + begin, info.high_dtype, rows, cols, (const int8_t*)codes, scales);
                CHECK(bad == 0, "%s: %ld low values differ from the reference quantizer", info.name, bad);
            }
            if (info.low_codes_are_raw) {
                const void* vc = NULL;
                const void* vs = NULL;
                CHECK(qs_view_low(f, i, &vc, &vs) == QS_OK, "qs_view_low(%s)", info.name);
                CHECK(vc && ((uintptr_t)vc % 64) == 0 && memcmp(vc, codes, (size_t)info.low_code_bytes) == 0,
                      "%s: view", info.name);
            } else {
                const void* vc = NULL;
                CHECK(qs_view_low(f, i, &vc, NULL) == QS_ERR_NOT_AVAILABLE, "%s: view of coded low", info.name);
            }
        }
        /* levels (1.1): level 0 is qs_load_low's, the top level qs_load_high's */
        {
            qs_level_info li;
            uint32_t top = info.num_levels > 0 ? info.num_levels - 1 : 0;
            unsigned char* lc;
            unsigned char* ls;
            unsigned char* lz;
            CHECK(info.num_levels == (info.low_scheme == QS_LOW_PASSTHROUGH ? 1u : 2u), "%s: num_levels %u", info.name,
                  (unsigned)info.num_levels);
            memset(&li, 0, sizeof li);
            li.struct_size = sizeof li;
            st = qs_level_info_get(f, i, 0, &li);
            CHECK(st == QS_OK, "qs_level_info_get(%s, 0)", info.name);
            if (st == QS_OK) {
                CHECK(li.code_bytes == info.low_code_bytes && li.scale_bytes == info.low_scale_bytes &&
                          li.zero_point_bytes == info.low_zero_point_bytes,
                      "%s: level 0 sizes", info.name);
                CHECK(info.low_scheme == QS_LOW_PASSTHROUGH || li.scheme == info.low_scheme, "%s: level 0 scheme",
                      info.name);
                lc = (unsigned char*)malloc((size_t)li.code_bytes + 1);
                ls = (unsigned char*)malloc((size_t)li.scale_bytes + 1);
                lz = (unsigned char*)malloc((size_t)li.zero_point_bytes + 1);
                st = qs_load_level(f, i, 0, lc, (size_t)li.code_bytes, ls, (size_t)li.scale_bytes, lz,
                                   (size_t)li.zero_point_bytes);
                CHECK(st == QS_OK, "qs_load_level(%s, 0)", info.name);
                CHECK(li.code_bytes == info.low_code_bytes && memcmp(lc, codes, (size_t)li.code_bytes) == 0,
                      "%s: level 0 codes differ from qs_load_low", info.name);
                CHECK(li.scale_bytes == info.low_scale_bytes && memcmp(ls, scales, (size_t)li.scale_bytes) == 0,
                      "%s: level 0 scales differ from qs_load_low", info.name);
                free(lc);
                free(ls);
                free(lz);
            }
            memset(&li, 0, sizeof li);
            li.struct_size = sizeof li;
            st = qs_level_info_get(f, i, top, &li);
            CHECK(st == QS_OK, "qs_level_info_get(%s, %u)", info.name, (unsigned)top);
            if (st == QS_OK && top > 0) {
                CHECK(li.scheme == QS_LOW_PASSTHROUGH && li.code_dtype == info.high_dtype &&
                          li.code_bytes == info.high_bytes && li.scale_bytes == 0,
                      "%s: top level info", info.name);
                lc = (unsigned char*)malloc((size_t)info.high_bytes + 1);
                st = qs_load_level(f, i, top, lc, (size_t)info.high_bytes, NULL, 0, NULL, 0);
                CHECK(st == QS_OK, "qs_load_level(%s, top)", info.name);
                CHECK(memcmp(lc, data + begin, (size_t)info.high_bytes) == 0, "%s: top level differs from the original",
                      info.name);
                free(lc);
            }
            CHECK(qs_level_info_get(f, i, top + 1, &li) == QS_ERR_INVALID_ARGUMENT, "%s: level past the top",
                  info.name);
        }
        free(high);
        free(codes);
        free(scales);
    }
    {
        size_t idx;
        CHECK(qs_find_tensor(f, "definitely not a tensor", &idx) == QS_ERR_NOT_FOUND, "unknown name");
        CHECK(strstr(qs_last_error_message(), "definitely not a tensor") != NULL, "message names the tensor");
    }
    CHECK(qs_verify(f) == QS_OK, "qs_verify");
    qs_close(f);
    free(header);
    free(st_bytes);
    CHECK(quantized > 0, "no quantized tensor in the file");
    if (failures) {
        fprintf(stderr, "c_api_smoke: %d check(s) failed\n", failures);
        return 1;
    }
    printf("c_api_smoke: %s: %lu tensors (%lu quantized) match %s\n", argv[1], (unsigned long)count,
           (unsigned long)quantized, argv[2]);
    return 0;
}
