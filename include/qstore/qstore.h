/*
 * qstore — one file, two precisions of a neural network, losslessly.
 *
 * This is the whole public C API of libqstore (C99, no C++ types, no exceptions).
 * A .qs file holds, for every tensor, a low precision (INT8, FP8, GGUF Q8_0/Q4_0, INT4
 * or UINT8 codes with their scales, see qs_low_scheme) and the residual that rebuilds
 * the original high precision (F32, F16 or BF16) bit for bit. A file may also hold a
 * chain of precisions (e.g. BF16 > INT8 > Q4_0): level 0 is the lowest, each level
 * above is coded on the one below, the top level is the high precision (qs_load_level). Tensors that are not quantized (1-D norms and
 * biases, integer tensors, excluded names) are stored as they are and come back
 * identical from both loads.
 *
 * Conventions (the same for every function):
 *   - Functions that can fail return a qs_status; QS_OK is 0. On failure, a
 *     human-readable message naming the file and tensor is available from
 *     qs_last_error_message() on the SAME thread until that thread's next call of a
 *     function returning a qs_status.
 *   - Output buffers are provided by the caller together with their size in bytes;
 *     a buffer that is too small yields QS_ERR_BUFFER_TOO_SMALL and nothing is written.
 *   - A qs_file handle may be used from many threads at once for loads and queries;
 *     only qs_close must not race with anything else on that handle.
 *   - Strings returned by the library are owned by it: status strings and version
 *     strings live forever, tensor names as long as their qs_file is open.
 *   - Multi-byte data is returned in the host's byte order (little-endian hosts only
 *     are supported in this version; see docs/FORMAT.md).
 *
 * Stability: everything in this header is part of the stable ABI of libqstore.so.1.
 * New functions and new enum values may be added in minor versions; nothing is
 * removed or changed before a new SONAME.
 */
#ifndef QSTORE_QSTORE_H
#define QSTORE_QSTORE_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(QSTORE_SHARED)
#  if defined(QSTORE_BUILDING)
#    define QS_API __declspec(dllexport)
#  else
#    define QS_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && defined(QSTORE_BUILDING)
#  define QS_API __attribute__((visibility("default")))
#else
#  define QS_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------- */

#define QS_VERSION_MAJOR 1
#define QS_VERSION_MINOR 5
#define QS_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, e.g. 10200 for 1.2.0 */
#define QS_VERSION_NUMBER (QS_VERSION_MAJOR * 10000 + QS_VERSION_MINOR * 100 + QS_VERSION_PATCH)

/* The version of the library actually linked (compare with QS_VERSION_NUMBER). */
QS_API unsigned qs_version_number(void);
/* e.g. "1.2.0" */
QS_API const char* qs_version_string(void);

/* ---- Status -------------------------------------------------------------- */

typedef enum qs_status {
    QS_OK = 0,
    QS_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, index out of range, bad option */
    QS_ERR_IO = 2,               /* the operating system refused open/stat/mmap/read */
    QS_ERR_NOT_QSTORE = 3,       /* the file does not start with the qstore magic */
    QS_ERR_UNSUPPORTED = 4,      /* newer format version, or a required section/scheme this
                                    library does not know */
    QS_ERR_CORRUPT = 5,          /* a checksum or a structural check failed */
    QS_ERR_TRUNCATED = 6,        /* the data needed lies beyond the end of the file */
    QS_ERR_NOT_FOUND = 7,        /* no tensor of that name */
    QS_ERR_BUFFER_TOO_SMALL = 8, /* the caller's buffer is smaller than required */
    QS_ERR_OUT_OF_MEMORY = 9,
    QS_ERR_NOT_AVAILABLE = 10,   /* e.g. a zero-copy view of low codes that are entropy-coded */
    QS_ERR_INTERNAL = 11         /* a bug in qstore; please report it */
} qs_status;

/* A fixed English description of a status ("corrupt file", ...). Never NULL. */
QS_API const char* qs_status_string(qs_status status);

/* The detailed message of the last failed qstore call on the calling thread, e.g.
 * "model.qs: tensor 'lm_head.weight': residual block 3: checksum mismatch".
 * Empty string if that thread's last call succeeded. Valid until the thread's next
 * qstore call. Never NULL. (Thread-local, like errno: no state is shared between threads.) */
QS_API const char* qs_last_error_message(void);

/* ---- Types --------------------------------------------------------------- */

/* Element types, with safetensors' names in comments. */
typedef enum qs_dtype {
    QS_DTYPE_UNKNOWN = 0,
    QS_DTYPE_F32 = 1,  /* "F32" */
    QS_DTYPE_F16 = 2,  /* "F16" */
    QS_DTYPE_BF16 = 3, /* "BF16" */
    QS_DTYPE_F64 = 4,  /* "F64" */
    QS_DTYPE_I8 = 5,   /* "I8" */
    QS_DTYPE_U8 = 6,   /* "U8" */
    QS_DTYPE_I16 = 7,  /* "I16" */
    QS_DTYPE_U16 = 8,  /* "U16" */
    QS_DTYPE_I32 = 9,  /* "I32" */
    QS_DTYPE_U32 = 10, /* "U32" */
    QS_DTYPE_I64 = 11, /* "I64" */
    QS_DTYPE_U64 = 12, /* "U64" */
    QS_DTYPE_BOOL = 13, /* "BOOL" */
    QS_DTYPE_F8_E4M3 = 14, /* "F8_E4M3" */
    QS_DTYPE_F8_E5M2 = 15  /* "F8_E5M2" */
} qs_dtype;

/* Low-precision schemes. */
typedef enum qs_low_scheme {
    /* Not quantized: the tensor is stored as it is; qs_load_low and qs_load_high both
     * return its original bytes (scales: none). */
    QS_LOW_PASSTHROUGH = 0,
    /* INT8 symmetric, one float32 scale per row (dimension 0 = rows, the product of
     * the other dimensions = columns): codes int8 [rows x cols] row-major, scales
     * float32 [rows]. Value ~= code * scale / 127. This is bitsandbytes' LLM.int8()
     * layout (weight int8 + SCB float32). */
    QS_LOW_INT8_ROW = 1,
    /* INT8 symmetric, one float32 scale (the tensor's absmax): codes int8, scales
     * float32 [1]. Value ~= code * scale / 127. */
    QS_LOW_INT8_TENSOR = 2,
    /* OCP FP8 E4M3 codes (one byte each, saturating at +-448), float32 scales [rows]:
     * value ~= fp8(code) * scale (scale = row absmax / 448). */
    QS_LOW_FP8_E4M3_ROW = 3,
    /* As above with one float32 scale for the tensor (scales float32 [1]). */
    QS_LOW_FP8_E4M3_TENSOR = 4,
    /* OCP FP8 E5M2 codes (saturating at +-57344), one float32 scale = absmax / 57344. */
    QS_LOW_FP8_E5M2_TENSOR = 5,
    /* Since 1.1. INT8 symmetric per group of G consecutive elements of a row
     * (info.low_group_size): codes int8 [rows x cols], scales float32
     * [rows x ceil(cols/G)] = group absmax / 127. Value ~= code * scale. */
    QS_LOW_INT8_GROUP = 6,
    /* GGUF Q8_0, as llama.cpp reads it: codes are ggml blocks of 32 elements along a
     * row, 34 bytes each (float16 d, then 32 int8), row after row; no separate scales
     * (low_scale_bytes 0). Value ~= code * d. */
    QS_LOW_Q8_0 = 7,
    /* GGUF Q4_0: blocks of 32, 18 bytes each (float16 d, then 16 bytes: byte j holds
     * code j in its low nibble and code j+16 in its high nibble). Value ~= (code - 8) * d. */
    QS_LOW_Q4_0 = 8,
    /* OCP FP8 E4M3 codes, float32 scales per 128x128 tile [ceil(rows/128) x
     * ceil(cols/128)] (DeepSeek-V3's weight_scale_inv). Value ~= fp8(code) * scale. */
    QS_LOW_FP8_E4M3_BLOCK128 = 9,
    /* INT4 asymmetric per group of G along a row: codes packed eight per little-endian
     * int32 along the row (code k of a word in bits 4k..4k+3), [rows x cols/8];
     * scales float16 [rows x ceil(cols/G)]; zero points uint8, same count.
     * Value ~= (code - zero_point) * scale. Zero points come from qs_load_level.
     * qstore's own layout, not a GPTQ checkpoint (that is QS_LOW_GPTQ_INT4). */
    QS_LOW_INT4_ASYM_GROUP = 10,
    /* UINT8 asymmetric per tensor (ONNX QuantizeLinear): codes uint8, one float32
     * scale, one uint8 zero point (qs_load_level). Value ~= (code - zero_point) * scale. */
    QS_LOW_UINT8_ASYM_TENSOR = 11,
    /* Since 1.5. INT4 asymmetric per group of G along a row, in AutoGPTQ's checkpoint
     * layout (format v1) for a weight [out = rows, in = cols]: codes int32
     * [cols/8 x rows] (qweight: word (k, r) holds elements (r, 8k..8k+7), code j in bits
     * 4j..4j+3); scales float16 [groups x rows]; zero points int32 [groups x
     * ceil(rows/8)] (qzeros: zero point - 1 of rows 8k..8k+7, nibble j in bits 4j..4j+3,
     * from qs_load_level). Value ~= (code - zero_point) * scale. */
    QS_LOW_GPTQ_INT4 = 12,
    /* Since 1.5. INT8 symmetric per row, compressed-tensors' convention: codes int8
     * -128..127, scales float32 [rows] = max(row absmax / 127.5, FLT_EPSILON).
     * Value ~= code * scale. */
    QS_LOW_INT8_ROW_CT = 13
} qs_low_scheme;

#define QS_MAX_DIMS 8

/* Description of one tensor. Set struct_size = sizeof(qs_tensor_info) before the
 * call; a future library fills only the fields that fit in struct_size. */
typedef struct qs_tensor_info {
    size_t struct_size;
    const char* name;             /* UTF-8, NUL-terminated, owned by the qs_file */
    uint32_t ndim;
    uint64_t shape[QS_MAX_DIMS];  /* first ndim entries are valid */
    uint64_t num_elements;
    qs_dtype high_dtype;          /* dtype returned by qs_load_high */
    qs_low_scheme low_scheme;
    qs_dtype low_dtype;           /* element type of the codes returned by qs_load_low
                                     (QS_DTYPE_I8, QS_DTYPE_F8_E4M3 or QS_DTYPE_F8_E5M2;
                                     high_dtype for passthrough) */
    uint64_t high_bytes;          /* bytes qs_load_high writes */
    uint64_t low_code_bytes;      /* bytes qs_load_low writes to `codes` */
    uint64_t low_scale_bytes;     /* bytes qs_load_low writes to `scales` (0 for passthrough) */
    uint64_t stored_low_bytes;    /* bytes of the low part in the file (codes + scales) */
    uint64_t stored_residual_bytes; /* bytes of the residual part in the file (0 for passthrough) */
    int low_codes_are_raw;        /* 1 if the codes are stored raw and qs_view_low works */
    /* Since 1.1 (filled when struct_size covers them): */
    uint32_t num_levels;          /* precision levels: 1 passthrough, 2 low + high, 3+ a chain */
    uint32_t low_group_size;      /* G of the grouped schemes, else 0 */
    qs_dtype low_scale_dtype;     /* QS_DTYPE_F32 or QS_DTYPE_F16 (Q8_0/Q4_0: F16 inside the
                                     blocks); QS_DTYPE_UNKNOWN for passthrough */
    uint64_t low_zero_point_bytes; /* bytes of zero points qs_load_level writes at level 0 */
} qs_tensor_info;

/* One precision level of a tensor (qs_level_info_get). Level 0 is the lowest
 * (qs_load_low's), level num_levels-1 the high precision. Since 1.1. */
typedef struct qs_level_info {
    size_t struct_size;           /* set to sizeof(qs_level_info) */
    qs_low_scheme scheme;         /* QS_LOW_PASSTHROUGH for the high level */
    uint32_t group_size;          /* G of the grouped schemes, else 0 */
    qs_dtype code_dtype;          /* element type of the codes (the high dtype for the high level) */
    qs_dtype scale_dtype;         /* QS_DTYPE_UNKNOWN for the high level */
    uint64_t code_bytes;          /* bytes qs_load_level writes to `codes` */
    uint64_t scale_bytes;         /* ... to `scales` */
    uint64_t zero_point_bytes;    /* ... to `zero_points` */
    uint64_t stored_bytes;        /* bytes of this level's data in the file */
} qs_level_info;

/* Options for qs_open_ex. Initialise with qs_open_options_default(), then change fields. */
typedef struct qs_open_options {
    size_t struct_size;
    /* Worker threads owned by the handle, used to decode one tensor's blocks in
     * parallel. 0 = one per online CPU; 1 = decode on the calling thread only. */
    uint32_t num_threads;
    /* 1 (default) = verify each part's checksum on every load; 0 = skip (faster;
     * corruption is then only caught by structural checks). */
    int verify_checksums;
    /* Room for options of later 1.x versions, so that the struct's size (and the way
     * qs_open_options_default returns it) never changes. Must be zero. */
    uint8_t reserved[48];
} qs_open_options;

typedef struct qs_file qs_file; /* opaque */

/* ---- Opening ------------------------------------------------------------- */

QS_API qs_open_options qs_open_options_default(void);

/* Opens a .qs file read-only with default options (loads read it with pread;
 * qs_view_low points into a read-only mapping of it). The header,
 * section directory and tensor index are checked; tensor data is checked when loaded.
 * A file cut after its low part opens fine: low loads work, high loads report
 * QS_ERR_TRUNCATED. On failure *out is set to NULL. */
QS_API qs_status qs_open(const char* path, qs_file** out);
QS_API qs_status qs_open_ex(const char* path, const qs_open_options* options, qs_file** out);

/* Closes the handle and unmaps the file. NULL is allowed. Pointers obtained from
 * qs_view_low and tensor names become invalid. */
QS_API void qs_close(qs_file* file);

/* ---- Tensors ------------------------------------------------------------- */

/* Number of tensors (0 if file is NULL). Tensors are indexed 0..count-1 in file order. */
QS_API size_t qs_tensor_count(const qs_file* file);

QS_API qs_status qs_tensor_info_get(const qs_file* file, size_t index, qs_tensor_info* info);

/* Level `level` (0 .. info.num_levels-1) of tensor `index`. Since 1.1. */
QS_API qs_status qs_level_info_get(const qs_file* file, size_t index, uint32_t level, qs_level_info* info);

/* Index of the tensor with this exact name, or QS_ERR_NOT_FOUND. */
QS_API qs_status qs_find_tensor(const qs_file* file, const char* name, size_t* index);

/* ---- Loading ------------------------------------------------------------- */

/* Low precision: the codes (info.low_code_bytes) and the scales (info.low_scale_bytes)
 * into caller buffers. For a passthrough tensor the codes are the tensor's own bytes;
 * scales may then be NULL with scales_size 0. Needs only the low prefix of the file. */
QS_API qs_status qs_load_low(qs_file* file, size_t index, void* codes, size_t codes_size,
                             void* scales, size_t scales_size);

/* Zero-copy view of the low precision, for tensors whose low codes (or passthrough
 * bytes) are stored raw (info.low_codes_are_raw: files packed with --low-raw, and
 * passthrough tensors of any file). Pointers are 64-byte aligned, read-only, and valid
 * until qs_close; *scales is NULL for passthrough tensors. Checksums are verified on
 * every call (unless disabled in the options). Returns QS_ERR_NOT_AVAILABLE when the
 * codes are entropy-coded. */
QS_API qs_status qs_view_low(qs_file* file, size_t index, const void** codes,
                             const void** scales);

/* Any precision level, in its native layout (qs_level_info): level 0 is what qs_load_low
 * returns (plus zero points), the top level (num_levels-1) what qs_load_high returns
 * (into `codes`; scales and zero points are then ignored and may be NULL). zero_points
 * may be NULL (0 bytes) to skip them; scales may be NULL when scale_bytes is 0.
 * Needs only the file up to the end of that level's section: a file cut after level k
 * serves every level <= k. Since 1.1. */
QS_API qs_status qs_load_level(qs_file* file, size_t index, uint32_t level, void* codes, size_t codes_size,
                               void* scales, size_t scales_size, void* zero_points, size_t zero_points_size);

/* High precision, bit-exact, into a caller buffer of info.high_bytes. */
QS_API qs_status qs_load_high(qs_file* file, size_t index, void* out, size_t out_size);

/* Several tensors at once: decodes tensors indices[0..count-1] in parallel on the
 * handle's threads (qs_open_options.num_threads; one per 2 MiB of the batch's output),
 * which also helps models made of many small tensors, whose blocks alone cannot keep
 * the threads busy. outs[k] is a buffer
 * of out_sizes[k] bytes for tensor indices[k] (qs_load_high_many: high precision;
 * qs_load_low_many: the low codes as qs_load_low writes them, scales in scales[k] of
 * scale_sizes[k] bytes, which may be NULL/0 for passthrough tensors). On failure the
 * status and message are those of one failed tensor; other buffers may or may not
 * have been written. */
QS_API qs_status qs_load_high_many(qs_file* file, size_t count, const size_t* indices, void* const* outs,
                                   const size_t* out_sizes);
QS_API qs_status qs_load_low_many(qs_file* file, size_t count, const size_t* indices, void* const* codes,
                                  const size_t* codes_sizes, void* const* scales, const size_t* scales_sizes);

/* ---- Whole-file checks --------------------------------------------------- */

/* Verifies every section checksum and decodes every tensor in both precisions,
 * discarding the data. QS_OK means the whole file is intact. */
QS_API qs_status qs_verify(qs_file* file);

/* ==== Since 1.4 ============================================================
 *
 * Errors that belong to the call, not to the thread. Every function below that can
 * fail takes a `qs_error* err` as its last parameter: a caller-owned object that
 * receives the status and the message of that call (NULL = do not report; the
 * thread-local message of qs_last_error_message() is then set as for the 1.0 calls).
 * An error object may be reused for any number of calls; it must not be used by two
 * calls at once. This is what bindings for languages whose tasks move between OS
 * threads (Go's goroutines, async runtimes) use. Each 1.0-1.3 function that can fail
 * has an `_e` twin here taking `err`; both do the same thing. */

typedef struct qs_error qs_error; /* opaque */

/* NULL only when out of memory. */
QS_API qs_error* qs_error_new(void);
QS_API void qs_error_free(qs_error* err);
/* QS_OK and "" after a call that succeeded (or before any call). */
QS_API qs_status qs_error_status(const qs_error* err);
/* Valid until the next call using `err` or qs_error_free. Never NULL. */
QS_API const char* qs_error_message(const qs_error* err);

QS_API qs_status qs_open_e(const char* path, const qs_open_options* options, qs_file** out, qs_error* err);
QS_API qs_status qs_tensor_info_get_e(const qs_file* file, size_t index, qs_tensor_info* info, qs_error* err);
QS_API qs_status qs_level_info_get_e(const qs_file* file, size_t index, uint32_t level, qs_level_info* info,
                                     qs_error* err);
QS_API qs_status qs_find_tensor_e(const qs_file* file, const char* name, size_t* index, qs_error* err);
QS_API qs_status qs_load_low_e(qs_file* file, size_t index, void* codes, size_t codes_size, void* scales,
                               size_t scales_size, qs_error* err);
QS_API qs_status qs_view_low_e(qs_file* file, size_t index, const void** codes, const void** scales, qs_error* err);
QS_API qs_status qs_load_level_e(qs_file* file, size_t index, uint32_t level, void* codes, size_t codes_size,
                                 void* scales, size_t scales_size, void* zero_points, size_t zero_points_size,
                                 qs_error* err);
QS_API qs_status qs_load_high_e(qs_file* file, size_t index, void* out, size_t out_size, qs_error* err);
QS_API qs_status qs_load_high_many_e(qs_file* file, size_t count, const size_t* indices, void* const* outs,
                                     const size_t* out_sizes, qs_error* err);
QS_API qs_status qs_load_low_many_e(qs_file* file, size_t count, const size_t* indices, void* const* codes,
                                    const size_t* codes_sizes, void* const* scales, const size_t* scales_sizes,
                                    qs_error* err);
QS_API qs_status qs_verify_e(qs_file* file, qs_error* err);

/* ---- Opening from memory or from a read-at callback (since 1.4) ---------- */

/* A file that is not on a local disk: `size` bytes that the library reads with
 * read_at(user_data, offset, buffer, n), which must fill the whole buffer and return
 * 0, or return non-zero on failure (the load then fails with QS_ERR_IO). read_at may
 * be called from several of the handle's threads at once. It is asked only for the
 * bytes an operation needs: opening reads the header, then the metadata, tensor index
 * and directory (which end at qs_prefix_bytes(file, QS_PREFIX_INDEX)), in two calls
 * (a third only when metadata, index and directory together exceed 256 KiB); loads of
 * level k read only inside qs_level_prefix_bytes(file, k). qs_view_low gives
 * QS_ERR_NOT_AVAILABLE.
 * release(user_data), if not NULL, is called exactly once: when the handle is closed,
 * or when qs_open_source_e fails (also for a bad argument, once source->struct_size
 * is right). */
typedef struct qs_source {
    size_t struct_size;           /* set to sizeof(qs_source) */
    const char* name;             /* names the file in messages (copied); NULL: "<source>" */
    uint64_t size;                /* total bytes */
    void* user_data;
    int (*read_at)(void* user_data, uint64_t offset, void* buffer, size_t n);
    void (*release)(void* user_data);
} qs_source;

QS_API qs_status qs_open_source_e(const qs_source* source, const qs_open_options* options, qs_file** out,
                                  qs_error* err);
/* `data` must stay valid and unchanged until qs_close; qs_view_low points into it (its
 * pointers are 64-byte aligned when `data` is). Messages name the file "<memory>". */
QS_API qs_status qs_open_memory_e(const void* data, size_t size, const qs_open_options* options, qs_file** out,
                                  qs_error* err);

/* ---- Opening over HTTP (since 1.4) --------------------------------------- */

/* A .qs file on a web server, by its http:// or https:// URL, read with HTTP range
 * requests (libcurl). The server must answer a range request with status 206 and the
 * exact bytes (nginx, Apache, object stores and model hubs do). Opening makes 2
 * requests: the first 64 KiB (the whole file if smaller), which pins the file's size,
 * its ETag / Last-Modified and the URL after redirects, then the index and directory.
 * A load then fetches only the byte runs it reads (a low load only inside the low
 * prefix); loads from several threads use several connections. Every request is
 * checked: a server that ignores Range, a wrong Content-Range, a short body, or a
 * file replaced on the server since it was opened ("changed on the server") fail with
 * QS_ERR_IO and a message naming the URL without its user:password@ or query string,
 * never with partial or mixed data; server errors (5xx, 429), timeouts and dropped
 * connections are retried 4 times with exponential backoff. The environment gives
 * the bearer token (QSTORE_HTTP_TOKEN, else HF_TOKEN; sent as Authorization only to
 * the URL's own host, never printed), a cache folder of fetched ranges keyed by URL and
 * ETag (QSTORE_HTTP_CACHE) and the seconds without data after which a transfer is
 * retried (QSTORE_HTTP_TIMEOUT, default 30). qs_view_low is not available on such a
 * handle (QS_ERR_NOT_AVAILABLE). QS_ERR_UNSUPPORTED for another scheme, or when the
 * library was built without HTTP (CMake option QSTORE_WITH_HTTP=OFF). */
QS_API qs_status qs_open_url_e(const char* url, const qs_open_options* options, qs_file** out, qs_error* err);

/* Byte lengths of the parts of the file a reader needs, so that a client fetches
 * exactly those bytes. The file holds the header (64 bytes), level 0, then the
 * metadata, tensor index and directory, then the levels above (docs/FORMAT.md §4).
 * Opening reads the header and the bytes [QS_PREFIX_BEFORE_INDEX, QS_PREFIX_INDEX):
 *   QS_PREFIX_INDEX: the prefix that ends with the metadata, tensor index and directory
 *     (it holds level 0 too: a file cut there opens and serves level 0);
 *   QS_PREFIX_BEFORE_INDEX: the prefix before them (header and level 0).
 * qs_level_prefix_bytes(file, k) is the smallest prefix of the file that serves every
 * precision level <= k (k = 0: the low model; the highest level: the whole file);
 * k must be below qs_level_count, the largest num_levels of any tensor (1 when no
 * tensor is quantized; 0 for a NULL file). */
#define QS_PREFIX_INDEX 0
#define QS_PREFIX_BEFORE_INDEX 1
QS_API qs_status qs_prefix_bytes_e(const qs_file* file, int which, uint64_t* bytes, qs_error* err);
QS_API uint32_t qs_level_count(const qs_file* file);
QS_API qs_status qs_level_prefix_bytes_e(const qs_file* file, uint32_t level, uint64_t* bytes, qs_error* err);

/* ---- Metadata (since 1.4) ------------------------------------------------ */

/* The model's metadata, in the file's order: safetensors' "__metadata__" string
 * pairs, or a GGUF file's typed key/value pairs. Pointers stay valid until qs_close.
 * A metadata section that is not valid JSON does not keep the file from opening:
 * qs_metadata_count is then 0 and the _e functions report QS_ERR_CORRUPT. */
typedef enum qs_value_type {
    QS_VALUE_STRING = 0, /* UTF-8; each string is followed by a NUL (string_bytes excludes it) */
    QS_VALUE_U8 = 1,
    QS_VALUE_I8 = 2,
    QS_VALUE_U16 = 3,
    QS_VALUE_I16 = 4,
    QS_VALUE_U32 = 5,
    QS_VALUE_I32 = 6,
    QS_VALUE_U64 = 7,
    QS_VALUE_I64 = 8,
    QS_VALUE_F32 = 9,
    QS_VALUE_F64 = 10,
    QS_VALUE_BOOL = 11   /* one byte, 0 or 1 */
} qs_value_type;

typedef struct qs_metadata_entry {
    size_t struct_size;           /* set to sizeof(qs_metadata_entry) */
    const char* key;              /* UTF-8, NUL-terminated */
    qs_value_type type;           /* of the value, or of each element of an array */
    int is_array;
    uint64_t count;               /* elements of an array; 1 for a single value */
    /* A single string: `string` (NUL-terminated) of string_bytes bytes. Numbers and
     * bools (single or array): `values` holds `count` of them packed in host order
     * (NULL for strings).
     * String arrays: element by element with qs_metadata_string_at_e (`string` NULL). */
    const char* string;
    uint64_t string_bytes;
    const void* values;
} qs_metadata_entry;

QS_API size_t qs_metadata_count(const qs_file* file);
QS_API qs_status qs_metadata_get_e(const qs_file* file, size_t index, qs_metadata_entry* entry, qs_error* err);
QS_API qs_status qs_find_metadata_e(const qs_file* file, const char* key, size_t* index, qs_error* err);
QS_API qs_status qs_metadata_string_at_e(const qs_file* file, size_t index, uint64_t element, const char** string,
                                         uint64_t* string_bytes, qs_error* err);

/* ---- Row ranges (since 1.4) ---------------------------------------------- */

/* Rows [first_row, first_row + row_count) (dimension 0) of a tensor, in the layout of
 * qs_load_high / qs_load_level restricted to those rows: out_size must be
 * row_count * (high_bytes / rows). For the low levels, codes, scales and zero points
 * are those of the rows; a scheme whose scales span several rows
 * (QS_LOW_FP8_E4M3_BLOCK128: 128-row tiles) gives the scale rows of the tiles the
 * range touches; a per-tensor scheme gives its one scale. Sizes for a range come
 * from qs_rows_level_info_get_e (the other fields as qs_level_info_get_e's). Only the
 * coding blocks that hold the rows are decoded; with verify_checksums 0 only they are
 * read (a checksum covers a whole part, which is read when checksums are verified).
 * first_row + row_count beyond the tensor's rows: QS_ERR_INVALID_ARGUMENT. */
QS_API qs_status qs_load_high_rows_e(qs_file* file, size_t index, uint64_t first_row, uint64_t row_count, void* out,
                                     size_t out_size, qs_error* err);
QS_API qs_status qs_rows_level_info_get_e(const qs_file* file, size_t index, uint32_t level, uint64_t first_row,
                                          uint64_t row_count, qs_level_info* info, qs_error* err);
QS_API qs_status qs_load_level_rows_e(qs_file* file, size_t index, uint32_t level, uint64_t first_row,
                                      uint64_t row_count, void* codes, size_t codes_size, void* scales,
                                      size_t scales_size, void* zero_points, size_t zero_points_size,
                                      qs_error* err);

/* ---- Writing (since 1.4) ------------------------------------------------- */

/* A .qs file written tensor by tensor, as `qstore pack` writes it (qstore pack is built
 * on this writer): tensors are added in file order, quantized and coded on the writer's
 * threads while the caller adds the next ones (the writer holds about one tensor per
 * thread plus the one being added, at least 1 MiB per thread: qs_writer_add_tensor_e
 * waits while that much is held), and the file appears at `path` only at
 * qs_writer_finish_e, atomically (written to a temporary in the same folder, synced,
 * renamed). qs_writer_free of an unfinished writer (abort) removes the
 * temporary and leaves `path` untouched. A writer must not be used by two calls at once. */
typedef struct qs_writer qs_writer; /* opaque */

typedef struct qs_writer_options {
    size_t struct_size;           /* set by qs_writer_options_default */
    /* The low precisions, HIGHEST first, as qstore pack's --low: "int8-row" (a pair),
     * "int8-row,q4_0" (a chain BF16 > INT8 > Q4_0). NULL = "int8-row". */
    const char* low_schemes;
    int low_raw;                  /* 1 = low codes stored raw and 64-byte aligned (qs_view_low) */
    const char* const* exclude;   /* fnmatch(3) patterns of names stored unquantized */
    size_t exclude_count;
    int zstd_level;               /* -7..22, default 1 */
    uint32_t num_threads;         /* 0 = one per online CPU */
    /* 1 = a quantizable tensor added without given low codes while others have them
     * is an error (qstore pack --strict). */
    int strict_given_low;
    uint8_t reserved[48];         /* must be zero */
} qs_writer_options;

/* Low codes made elsewhere (qstore pack --low FILE): the codes, scales and zero points
 * of one tensor in the layout qs_load_level returns for `scheme`. */
typedef struct qs_given_low {
    size_t struct_size;           /* set to sizeof(qs_given_low) */
    qs_low_scheme scheme;
    uint32_t group_size;          /* G of the grouped schemes, else 0 */
    const void* codes;
    size_t codes_size;
    const void* scales;
    size_t scales_size;
    const void* zero_points;      /* NULL / 0 for schemes without zero points */
    size_t zero_points_size;
} qs_given_low;

QS_API qs_writer_options qs_writer_options_default(void);
/* `path` is checked at once (a folder, an unwritable folder: an error); nothing
 * appears there before qs_writer_finish_e. `options` may be NULL (the defaults). */
QS_API qs_status qs_writer_create_e(const char* path, const qs_writer_options* options, qs_writer** out,
                                    qs_error* err);
/* A string pair of the file's metadata (safetensors' __metadata__), UTF-8; before
 * finish. A key set again takes the new value. */
QS_API qs_status qs_writer_set_metadata_e(qs_writer* writer, const char* key, const char* value, qs_error* err);
/* One tensor: its high-precision bytes (row-major, host order, `dtype` of the shape).
 * It is quantized with the writer's schemes when it qualifies (F32/F16/BF16, 2+
 * dimensions, a shape the schemes accept, not excluded), unless `low` gives its low
 * precision; otherwise it is stored as it is. The bytes are copied before the call
 * returns (`data` may be NULL when data_size is 0). A refused tensor (a name that is
 * not UTF-8 or already taken, a size that is not the shape's, `low` of another scheme
 * or size: QS_ERR_INVALID_ARGUMENT) is not added and the writer stays usable; a
 * failure of the writer's threads (QS_ERR_IO) is reported by the next call. */
QS_API qs_status qs_writer_add_tensor_e(qs_writer* writer, const char* name, qs_dtype dtype, uint32_t ndim,
                                        const uint64_t* shape, const void* data, size_t data_size,
                                        const qs_given_low* low, qs_error* err);
/* Writes what remains and moves the file into place. The writer is then finished,
 * also when this fails (nothing is then left at `path`): only qs_writer_free remains
 * to be called. */
QS_API qs_status qs_writer_finish_e(qs_writer* writer, qs_error* err);
/* Frees the writer; if it was not finished, aborts it (nothing is left behind). */
QS_API void qs_writer_free(qs_writer* writer);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* QSTORE_QSTORE_H */
