"""The C structs of include/qstore/qstore.h as ctypes Structures (same fields, same
order; tests/test_layout.py compares sizes and offsets with the C compiler's)."""
import ctypes

MAX_DIMS = 8
c_enum = ctypes.c_int  # qs_dtype, qs_low_scheme, qs_value_type: C enums are int-sized


class QsTensorInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("name", ctypes.c_char_p),
        ("ndim", ctypes.c_uint32),
        ("shape", ctypes.c_uint64 * MAX_DIMS),
        ("num_elements", ctypes.c_uint64),
        ("high_dtype", c_enum),
        ("low_scheme", c_enum),
        ("low_dtype", c_enum),
        ("high_bytes", ctypes.c_uint64),
        ("low_code_bytes", ctypes.c_uint64),
        ("low_scale_bytes", ctypes.c_uint64),
        ("stored_low_bytes", ctypes.c_uint64),
        ("stored_residual_bytes", ctypes.c_uint64),
        ("low_codes_are_raw", ctypes.c_int),
        ("num_levels", ctypes.c_uint32),
        ("low_group_size", ctypes.c_uint32),
        ("low_scale_dtype", c_enum),
        ("low_zero_point_bytes", ctypes.c_uint64),
    ]


class QsLevelInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("scheme", c_enum),
        ("group_size", ctypes.c_uint32),
        ("code_dtype", c_enum),
        ("scale_dtype", c_enum),
        ("code_bytes", ctypes.c_uint64),
        ("scale_bytes", ctypes.c_uint64),
        ("zero_point_bytes", ctypes.c_uint64),
        ("stored_bytes", ctypes.c_uint64),
    ]


class QsOpenOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("num_threads", ctypes.c_uint32),
        ("verify_checksums", ctypes.c_int),
        ("reserved", ctypes.c_uint8 * 48),
    ]


class QsMetadataEntry(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("key", ctypes.c_char_p),
        ("type", c_enum),
        ("is_array", ctypes.c_int),
        ("count", ctypes.c_uint64),
        ("string", ctypes.c_void_p),  # not NUL-safe: read string_bytes from it
        ("string_bytes", ctypes.c_uint64),
        ("values", ctypes.c_void_p),
    ]


class QsWriterOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("low_schemes", ctypes.c_char_p),
        ("low_raw", ctypes.c_int),
        ("exclude", ctypes.POINTER(ctypes.c_char_p)),
        ("exclude_count", ctypes.c_size_t),
        ("zstd_level", ctypes.c_int),
        ("num_threads", ctypes.c_uint32),
        ("strict_given_low", ctypes.c_int),
        ("reserved", ctypes.c_uint8 * 48),
    ]


class QsGivenLow(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("scheme", c_enum),
        ("group_size", ctypes.c_uint32),
        ("codes", ctypes.c_void_p),
        ("codes_size", ctypes.c_size_t),
        ("scales", ctypes.c_void_p),
        ("scales_size", ctypes.c_size_t),
        ("zero_points", ctypes.c_void_p),
        ("zero_points_size", ctypes.c_size_t),
    ]


# int read_at(void* user_data, uint64_t offset, void* buffer, size_t n); void release(void*)
READ_AT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t)
RELEASE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class QsSource(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("name", ctypes.c_char_p),
        ("size", ctypes.c_uint64),
        ("user_data", ctypes.c_void_p),
        ("read_at", READ_AT),
        ("release", RELEASE),
    ]
