// The hand-written declarations against the header: a C program compiled with the C
// compiler (CC, else cc) against include/qstore/qstore.h prints the size of every struct,
// the offset and size of each field and the value of each constant; the same table is computed
// from the Rust declarations and the two must be equal line for line.
use qstore_sys::*;
use std::mem::{size_of, MaybeUninit};
use std::process::Command;

fn pointee_size<T>(_: *const T) -> usize {
    size_of::<T>()
}

// Offset and size of `field` in `T`, without offset_of! (Rust 1.77): the address of the
// field of an uninitialised value minus the value's address.
macro_rules! offset {
    ($t:ty, $field:ident) => {{
        let v = MaybeUninit::<$t>::uninit();
        let base = v.as_ptr();
        // Safety: addr_of! takes the field's address without reading it.
        let field = unsafe { std::ptr::addr_of!((*base).$field) };
        (field as usize - base as usize, pointee_size(field))
    }};
}

// (struct, its fields as named in C, each with its Rust offset), and the Rust size.
macro_rules! layout {
    ($t:ident { $($c:ident => $r:ident),* $(,)? }) => {
        (stringify!($t), size_of::<$t>(), vec![$((stringify!($c), offset!($t, $r))),*])
    };
}

type Layout = (&'static str, usize, Vec<(&'static str, (usize, usize))>);

fn layouts() -> Vec<Layout> {
    vec![
        layout!(qs_tensor_info { struct_size => struct_size, name => name, ndim => ndim, shape => shape,
            num_elements => num_elements, high_dtype => high_dtype, low_scheme => low_scheme,
            low_dtype => low_dtype, high_bytes => high_bytes, low_code_bytes => low_code_bytes,
            low_scale_bytes => low_scale_bytes, stored_low_bytes => stored_low_bytes,
            stored_residual_bytes => stored_residual_bytes, low_codes_are_raw => low_codes_are_raw,
            num_levels => num_levels, low_group_size => low_group_size, low_scale_dtype => low_scale_dtype,
            low_zero_point_bytes => low_zero_point_bytes }),
        layout!(qs_level_info { struct_size => struct_size, scheme => scheme, group_size => group_size,
            code_dtype => code_dtype, scale_dtype => scale_dtype, code_bytes => code_bytes,
            scale_bytes => scale_bytes, zero_point_bytes => zero_point_bytes, stored_bytes => stored_bytes }),
        layout!(qs_open_options { struct_size => struct_size, num_threads => num_threads,
            verify_checksums => verify_checksums, reserved => reserved }),
        layout!(qs_source { struct_size => struct_size, name => name, size => size, user_data => user_data,
            read_at => read_at, release => release }),
        layout!(qs_metadata_entry { struct_size => struct_size, key => key, type => type_, is_array => is_array,
            count => count, string => string, string_bytes => string_bytes, values => values }),
        layout!(qs_writer_options { struct_size => struct_size, low_schemes => low_schemes, low_raw => low_raw,
            exclude => exclude, exclude_count => exclude_count, zstd_level => zstd_level,
            num_threads => num_threads, strict_given_low => strict_given_low, reserved => reserved }),
        layout!(qs_given_low { struct_size => struct_size, scheme => scheme, group_size => group_size,
            codes => codes, codes_size => codes_size, scales => scales, scales_size => scales_size,
            zero_points => zero_points, zero_points_size => zero_points_size }),
    ]
}

// Every constant of the header with its Rust value (enum values as unsigned numbers).
fn constants() -> Vec<(&'static str, i64)> {
    macro_rules! c {
        ($($n:ident),* $(,)?) => { vec![$((stringify!($n), $n as i64)),*] };
    }
    let mut v = c![QS_VERSION_MAJOR, QS_VERSION_MINOR, QS_VERSION_PATCH, QS_VERSION_NUMBER, QS_MAX_DIMS,
        QS_PREFIX_INDEX,
        QS_OK, QS_ERR_INVALID_ARGUMENT, QS_ERR_IO, QS_ERR_NOT_QSTORE, QS_ERR_UNSUPPORTED, QS_ERR_CORRUPT,
        QS_ERR_TRUNCATED, QS_ERR_NOT_FOUND, QS_ERR_BUFFER_TOO_SMALL, QS_ERR_OUT_OF_MEMORY, QS_ERR_NOT_AVAILABLE,
        QS_ERR_INTERNAL,
        QS_DTYPE_UNKNOWN, QS_DTYPE_F32, QS_DTYPE_F16, QS_DTYPE_BF16, QS_DTYPE_F64, QS_DTYPE_I8, QS_DTYPE_U8,
        QS_DTYPE_I16, QS_DTYPE_U16, QS_DTYPE_I32, QS_DTYPE_U32, QS_DTYPE_I64, QS_DTYPE_U64, QS_DTYPE_BOOL,
        QS_DTYPE_F8_E4M3, QS_DTYPE_F8_E5M2,
        QS_LOW_PASSTHROUGH, QS_LOW_INT8_ROW, QS_LOW_INT8_TENSOR, QS_LOW_FP8_E4M3_ROW, QS_LOW_FP8_E4M3_TENSOR,
        QS_LOW_FP8_E5M2_TENSOR, QS_LOW_INT8_GROUP, QS_LOW_Q8_0, QS_LOW_Q4_0, QS_LOW_FP8_E4M3_BLOCK128,
        QS_LOW_INT4_ASYM_GROUP, QS_LOW_UINT8_ASYM_TENSOR, QS_LOW_GPTQ_INT4, QS_LOW_INT8_ROW_CT,
        QS_VALUE_STRING, QS_VALUE_U8, QS_VALUE_I8, QS_VALUE_U16, QS_VALUE_I16, QS_VALUE_U32, QS_VALUE_I32,
        QS_VALUE_U64, QS_VALUE_I64, QS_VALUE_F32, QS_VALUE_F64, QS_VALUE_BOOL];
    // Every enum is int-sized in C.
    v.push(("sizeof(qs_status)", size_of::<qs_status>() as i64));
    v.push(("sizeof(qs_dtype)", size_of::<qs_dtype>() as i64));
    v.push(("sizeof(qs_low_scheme)", size_of::<qs_low_scheme>() as i64));
    v.push(("sizeof(qs_value_type)", size_of::<qs_value_type>() as i64));
    v
}

fn rust_table() -> String {
    let mut out = String::new();
    for (name, size, fields) in layouts() {
        out += &format!("sizeof {} {}\n", name, size);
        for (field, (offset, size)) in fields {
            out += &format!("offsetof {0}.{1} {2}\nsizeof {0}.{1} {3}\n", name, field, offset, size);
        }
    }
    for (name, value) in constants() {
        out += &format!("const {} {}\n", name, value);
    }
    out
}

fn c_program() -> String {
    let mut body = String::new();
    for (name, _, fields) in layouts() {
        body += &format!("    printf(\"sizeof {0} %zu\\n\", sizeof({0}));\n", name);
        for (field, _) in fields {
            body += &format!("    printf(\"offsetof {0}.{1} %zu\\n\", offsetof({0}, {1}));\n", name, field);
            body += &format!("    printf(\"sizeof {0}.{1} %zu\\n\", sizeof((({0}*)0)->{1}));\n", name, field);
        }
    }
    for (name, _) in constants() {
        body += &format!("    printf(\"const {0} %lld\\n\", (long long)({0}));\n", name);
    }
    format!("#include <stddef.h>\n#include <stdio.h>\n#include <qstore/qstore.h>\nint main(void) {{\n{}    return 0;\n}}\n", body)
}

#[test]
fn structs_and_constants_match_the_header() {
    let include = env!("QSTORE_SYS_INCLUDE_DIR");
    let dir = std::env::temp_dir().join(format!("qstore-sys-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c_program()).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Werror", "-I", include, "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler '{}': {}", cc, e));
    assert!(status.success(), "compiling {} against {} failed", src.display(), include);
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success());
    let c_table = String::from_utf8(out.stdout).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let rust = rust_table();
    for (c_line, r_line) in c_table.lines().zip(rust.lines()) {
        assert_eq!(c_line, r_line, "C (left) and Rust (right) differ");
    }
    assert_eq!(c_table.lines().count(), rust.lines().count());
    assert!(c_table.lines().count() > 100, "the table is too short to have checked anything");
}

#[test]
fn the_linked_library_is_this_version() {
    // Safety: plain calls without arguments.
    let n = unsafe { qs_version_number() };
    assert!(n >= QS_VERSION_NUMBER, "linked libqstore {} is older than the declarations ({})", n, QS_VERSION_NUMBER);
}
