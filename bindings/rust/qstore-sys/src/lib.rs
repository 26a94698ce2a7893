//! Raw declarations of libqstore's C API, `include/qstore/qstore.h` (1.4), written by
//! hand. tests/layout.rs compiles a C program against the header and checks every
//! struct's size and field offsets and every constant against these declarations.
//! The safe API is the `qstore` crate.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

// ---- Version ----------------------------------------------------------------

pub const QS_VERSION_MAJOR: c_uint = 1;
pub const QS_VERSION_MINOR: c_uint = 5;
pub const QS_VERSION_PATCH: c_uint = 0;
pub const QS_VERSION_NUMBER: c_uint = QS_VERSION_MAJOR * 10000 + QS_VERSION_MINOR * 100 + QS_VERSION_PATCH;

// ---- Enums (C enums: int-sized) --------------------------------------------------

pub type qs_status = c_uint;
pub const QS_OK: qs_status = 0;
pub const QS_ERR_INVALID_ARGUMENT: qs_status = 1;
pub const QS_ERR_IO: qs_status = 2;
pub const QS_ERR_NOT_QSTORE: qs_status = 3;
pub const QS_ERR_UNSUPPORTED: qs_status = 4;
pub const QS_ERR_CORRUPT: qs_status = 5;
pub const QS_ERR_TRUNCATED: qs_status = 6;
pub const QS_ERR_NOT_FOUND: qs_status = 7;
pub const QS_ERR_BUFFER_TOO_SMALL: qs_status = 8;
pub const QS_ERR_OUT_OF_MEMORY: qs_status = 9;
pub const QS_ERR_NOT_AVAILABLE: qs_status = 10;
pub const QS_ERR_INTERNAL: qs_status = 11;

pub type qs_dtype = c_uint;
pub const QS_DTYPE_UNKNOWN: qs_dtype = 0;
pub const QS_DTYPE_F32: qs_dtype = 1;
pub const QS_DTYPE_F16: qs_dtype = 2;
pub const QS_DTYPE_BF16: qs_dtype = 3;
pub const QS_DTYPE_F64: qs_dtype = 4;
pub const QS_DTYPE_I8: qs_dtype = 5;
pub const QS_DTYPE_U8: qs_dtype = 6;
pub const QS_DTYPE_I16: qs_dtype = 7;
pub const QS_DTYPE_U16: qs_dtype = 8;
pub const QS_DTYPE_I32: qs_dtype = 9;
pub const QS_DTYPE_U32: qs_dtype = 10;
pub const QS_DTYPE_I64: qs_dtype = 11;
pub const QS_DTYPE_U64: qs_dtype = 12;
pub const QS_DTYPE_BOOL: qs_dtype = 13;
pub const QS_DTYPE_F8_E4M3: qs_dtype = 14;
pub const QS_DTYPE_F8_E5M2: qs_dtype = 15;

pub type qs_low_scheme = c_uint;
pub const QS_LOW_PASSTHROUGH: qs_low_scheme = 0;
pub const QS_LOW_INT8_ROW: qs_low_scheme = 1;
pub const QS_LOW_INT8_TENSOR: qs_low_scheme = 2;
pub const QS_LOW_FP8_E4M3_ROW: qs_low_scheme = 3;
pub const QS_LOW_FP8_E4M3_TENSOR: qs_low_scheme = 4;
pub const QS_LOW_FP8_E5M2_TENSOR: qs_low_scheme = 5;
pub const QS_LOW_INT8_GROUP: qs_low_scheme = 6;
pub const QS_LOW_Q8_0: qs_low_scheme = 7;
pub const QS_LOW_Q4_0: qs_low_scheme = 8;
pub const QS_LOW_FP8_E4M3_BLOCK128: qs_low_scheme = 9;
pub const QS_LOW_INT4_ASYM_GROUP: qs_low_scheme = 10;
pub const QS_LOW_UINT8_ASYM_TENSOR: qs_low_scheme = 11;
pub const QS_LOW_GPTQ_INT4: qs_low_scheme = 12;
pub const QS_LOW_INT8_ROW_CT: qs_low_scheme = 13;

pub type qs_value_type = c_uint;
pub const QS_VALUE_STRING: qs_value_type = 0;
pub const QS_VALUE_U8: qs_value_type = 1;
pub const QS_VALUE_I8: qs_value_type = 2;
pub const QS_VALUE_U16: qs_value_type = 3;
pub const QS_VALUE_I16: qs_value_type = 4;
pub const QS_VALUE_U32: qs_value_type = 5;
pub const QS_VALUE_I32: qs_value_type = 6;
pub const QS_VALUE_U64: qs_value_type = 7;
pub const QS_VALUE_I64: qs_value_type = 8;
pub const QS_VALUE_F32: qs_value_type = 9;
pub const QS_VALUE_F64: qs_value_type = 10;
pub const QS_VALUE_BOOL: qs_value_type = 11;

pub const QS_MAX_DIMS: usize = 8;
pub const QS_PREFIX_INDEX: c_int = 0;

// ---- Structs ------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct qs_tensor_info {
    pub struct_size: usize,
    pub name: *const c_char,
    pub ndim: u32,
    pub shape: [u64; QS_MAX_DIMS],
    pub num_elements: u64,
    pub high_dtype: qs_dtype,
    pub low_scheme: qs_low_scheme,
    pub low_dtype: qs_dtype,
    pub high_bytes: u64,
    pub low_code_bytes: u64,
    pub low_scale_bytes: u64,
    pub stored_low_bytes: u64,
    pub stored_residual_bytes: u64,
    pub low_codes_are_raw: c_int,
    pub num_levels: u32,
    pub low_group_size: u32,
    pub low_scale_dtype: qs_dtype,
    pub low_zero_point_bytes: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct qs_level_info {
    pub struct_size: usize,
    pub scheme: qs_low_scheme,
    pub group_size: u32,
    pub code_dtype: qs_dtype,
    pub scale_dtype: qs_dtype,
    pub code_bytes: u64,
    pub scale_bytes: u64,
    pub zero_point_bytes: u64,
    pub stored_bytes: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct qs_open_options {
    pub struct_size: usize,
    pub num_threads: u32,
    pub verify_checksums: c_int,
    pub reserved: [u8; 48],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct qs_source {
    pub struct_size: usize,
    pub name: *const c_char,
    pub size: u64,
    pub user_data: *mut c_void,
    pub read_at: Option<unsafe extern "C" fn(*mut c_void, u64, *mut c_void, usize) -> c_int>,
    pub release: Option<unsafe extern "C" fn(*mut c_void)>,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct qs_metadata_entry {
    pub struct_size: usize,
    pub key: *const c_char,
    pub type_: qs_value_type,
    pub is_array: c_int,
    pub count: u64,
    pub string: *const c_char,
    pub string_bytes: u64,
    pub values: *const c_void,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct qs_writer_options {
    pub struct_size: usize,
    pub low_schemes: *const c_char,
    pub low_raw: c_int,
    pub exclude: *const *const c_char,
    pub exclude_count: usize,
    pub zstd_level: c_int,
    pub num_threads: u32,
    pub strict_given_low: c_int,
    pub reserved: [u8; 48],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct qs_given_low {
    pub struct_size: usize,
    pub scheme: qs_low_scheme,
    pub group_size: u32,
    pub codes: *const c_void,
    pub codes_size: usize,
    pub scales: *const c_void,
    pub scales_size: usize,
    pub zero_points: *const c_void,
    pub zero_points_size: usize,
}

/// Opaque handles.
#[repr(C)]
pub struct qs_file {
    _private: [u8; 0],
}
#[repr(C)]
pub struct qs_error {
    _private: [u8; 0],
}
#[repr(C)]
pub struct qs_writer {
    _private: [u8; 0],
}

// ---- Functions ------------------------------------------------------------------

extern "C" {
    pub fn qs_version_number() -> c_uint;
    pub fn qs_version_string() -> *const c_char;
    pub fn qs_status_string(status: qs_status) -> *const c_char;
    pub fn qs_last_error_message() -> *const c_char;

    pub fn qs_open_options_default() -> qs_open_options;
    pub fn qs_open(path: *const c_char, out: *mut *mut qs_file) -> qs_status;
    pub fn qs_open_ex(path: *const c_char, options: *const qs_open_options, out: *mut *mut qs_file) -> qs_status;
    pub fn qs_close(file: *mut qs_file);

    pub fn qs_tensor_count(file: *const qs_file) -> usize;
    pub fn qs_tensor_info_get(file: *const qs_file, index: usize, info: *mut qs_tensor_info) -> qs_status;
    pub fn qs_level_info_get(file: *const qs_file, index: usize, level: u32, info: *mut qs_level_info) -> qs_status;
    pub fn qs_find_tensor(file: *const qs_file, name: *const c_char, index: *mut usize) -> qs_status;

    pub fn qs_load_low(
        file: *mut qs_file, index: usize, codes: *mut c_void, codes_size: usize, scales: *mut c_void,
        scales_size: usize,
    ) -> qs_status;
    pub fn qs_view_low(file: *mut qs_file, index: usize, codes: *mut *const c_void, scales: *mut *const c_void)
        -> qs_status;
    pub fn qs_load_level(
        file: *mut qs_file, index: usize, level: u32, codes: *mut c_void, codes_size: usize, scales: *mut c_void,
        scales_size: usize, zero_points: *mut c_void, zero_points_size: usize,
    ) -> qs_status;
    pub fn qs_load_high(file: *mut qs_file, index: usize, out: *mut c_void, out_size: usize) -> qs_status;
    pub fn qs_load_high_many(
        file: *mut qs_file, count: usize, indices: *const usize, outs: *const *mut c_void, out_sizes: *const usize,
    ) -> qs_status;
    pub fn qs_load_low_many(
        file: *mut qs_file, count: usize, indices: *const usize, codes: *const *mut c_void, codes_sizes: *const usize,
        scales: *const *mut c_void, scales_sizes: *const usize,
    ) -> qs_status;
    pub fn qs_verify(file: *mut qs_file) -> qs_status;

    // Since 1.4: per-call errors.
    pub fn qs_error_new() -> *mut qs_error;
    pub fn qs_error_free(err: *mut qs_error);
    pub fn qs_error_status(err: *const qs_error) -> qs_status;
    pub fn qs_error_message(err: *const qs_error) -> *const c_char;

    pub fn qs_open_e(
        path: *const c_char, options: *const qs_open_options, out: *mut *mut qs_file, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_tensor_info_get_e(
        file: *const qs_file, index: usize, info: *mut qs_tensor_info, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_level_info_get_e(
        file: *const qs_file, index: usize, level: u32, info: *mut qs_level_info, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_find_tensor_e(file: *const qs_file, name: *const c_char, index: *mut usize, err: *mut qs_error)
        -> qs_status;
    pub fn qs_load_low_e(
        file: *mut qs_file, index: usize, codes: *mut c_void, codes_size: usize, scales: *mut c_void,
        scales_size: usize, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_view_low_e(
        file: *mut qs_file, index: usize, codes: *mut *const c_void, scales: *mut *const c_void, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_load_level_e(
        file: *mut qs_file, index: usize, level: u32, codes: *mut c_void, codes_size: usize, scales: *mut c_void,
        scales_size: usize, zero_points: *mut c_void, zero_points_size: usize, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_load_high_e(file: *mut qs_file, index: usize, out: *mut c_void, out_size: usize, err: *mut qs_error)
        -> qs_status;
    pub fn qs_load_high_many_e(
        file: *mut qs_file, count: usize, indices: *const usize, outs: *const *mut c_void, out_sizes: *const usize,
        err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_load_low_many_e(
        file: *mut qs_file, count: usize, indices: *const usize, codes: *const *mut c_void, codes_sizes: *const usize,
        scales: *const *mut c_void, scales_sizes: *const usize, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_verify_e(file: *mut qs_file, err: *mut qs_error) -> qs_status;

    // Since 1.4: memory and callback sources, prefix lengths.
    pub fn qs_open_source_e(
        source: *const qs_source, options: *const qs_open_options, out: *mut *mut qs_file, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_open_memory_e(
        data: *const c_void, size: usize, options: *const qs_open_options, out: *mut *mut qs_file,
        err: *mut qs_error,
    ) -> qs_status;
    // Since 1.4: a file on a web server, read with HTTP range requests.
    pub fn qs_open_url_e(
        url: *const c_char, options: *const qs_open_options, out: *mut *mut qs_file, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_prefix_bytes_e(file: *const qs_file, which: c_int, bytes: *mut u64, err: *mut qs_error) -> qs_status;
    pub fn qs_level_count(file: *const qs_file) -> u32;
    pub fn qs_level_prefix_bytes_e(file: *const qs_file, level: u32, bytes: *mut u64, err: *mut qs_error)
        -> qs_status;

    // Since 1.4: metadata.
    pub fn qs_metadata_count(file: *const qs_file) -> usize;
    pub fn qs_metadata_get_e(
        file: *const qs_file, index: usize, entry: *mut qs_metadata_entry, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_find_metadata_e(file: *const qs_file, key: *const c_char, index: *mut usize, err: *mut qs_error)
        -> qs_status;
    pub fn qs_metadata_string_at_e(
        file: *const qs_file, index: usize, element: u64, string: *mut *const c_char, string_bytes: *mut u64,
        err: *mut qs_error,
    ) -> qs_status;

    // Since 1.4: row ranges.
    pub fn qs_load_high_rows_e(
        file: *mut qs_file, index: usize, first_row: u64, row_count: u64, out: *mut c_void, out_size: usize,
        err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_rows_level_info_get_e(
        file: *const qs_file, index: usize, level: u32, first_row: u64, row_count: u64, info: *mut qs_level_info,
        err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_load_level_rows_e(
        file: *mut qs_file, index: usize, level: u32, first_row: u64, row_count: u64, codes: *mut c_void,
        codes_size: usize, scales: *mut c_void, scales_size: usize, zero_points: *mut c_void,
        zero_points_size: usize, err: *mut qs_error,
    ) -> qs_status;

    // Since 1.4: the writer.
    pub fn qs_writer_options_default() -> qs_writer_options;
    pub fn qs_writer_create_e(
        path: *const c_char, options: *const qs_writer_options, out: *mut *mut qs_writer, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_writer_set_metadata_e(
        writer: *mut qs_writer, key: *const c_char, value: *const c_char, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_writer_add_tensor_e(
        writer: *mut qs_writer, name: *const c_char, dtype: qs_dtype, ndim: u32, shape: *const u64,
        data: *const c_void, data_size: usize, low: *const qs_given_low, err: *mut qs_error,
    ) -> qs_status;
    pub fn qs_writer_finish_e(writer: *mut qs_writer, err: *mut qs_error) -> qs_status;
    pub fn qs_writer_free(writer: *mut qs_writer);
}
