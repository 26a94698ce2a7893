// Element types, low-precision schemes, and the descriptions of a tensor and of one of
// its precision levels, converted from the C structs.
use qstore_sys as sys;
use std::ffi::CStr;

/// Element types (safetensors' names from `name()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    Unknown,
    F32,
    F16,
    BF16,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
    F8E4M3,
    F8E5M2,
}

const DTYPES: [(Dtype, sys::qs_dtype, &str, usize); 16] = [
    (Dtype::Unknown, sys::QS_DTYPE_UNKNOWN, "UNKNOWN", 0),
    (Dtype::F32, sys::QS_DTYPE_F32, "F32", 4),
    (Dtype::F16, sys::QS_DTYPE_F16, "F16", 2),
    (Dtype::BF16, sys::QS_DTYPE_BF16, "BF16", 2),
    (Dtype::F64, sys::QS_DTYPE_F64, "F64", 8),
    (Dtype::I8, sys::QS_DTYPE_I8, "I8", 1),
    (Dtype::U8, sys::QS_DTYPE_U8, "U8", 1),
    (Dtype::I16, sys::QS_DTYPE_I16, "I16", 2),
    (Dtype::U16, sys::QS_DTYPE_U16, "U16", 2),
    (Dtype::I32, sys::QS_DTYPE_I32, "I32", 4),
    (Dtype::U32, sys::QS_DTYPE_U32, "U32", 4),
    (Dtype::I64, sys::QS_DTYPE_I64, "I64", 8),
    (Dtype::U64, sys::QS_DTYPE_U64, "U64", 8),
    (Dtype::Bool, sys::QS_DTYPE_BOOL, "BOOL", 1),
    (Dtype::F8E4M3, sys::QS_DTYPE_F8_E4M3, "F8_E4M3", 1),
    (Dtype::F8E5M2, sys::QS_DTYPE_F8_E5M2, "F8_E5M2", 1),
];

impl Dtype {
    pub(crate) fn from_raw(raw: sys::qs_dtype) -> Dtype {
        DTYPES.iter().find(|d| d.1 == raw).map(|d| d.0).unwrap_or(Dtype::Unknown)
    }

    pub(crate) fn raw(self) -> sys::qs_dtype {
        DTYPES.iter().find(|d| d.0 == self).map(|d| d.1).unwrap_or(sys::QS_DTYPE_UNKNOWN)
    }

    /// safetensors' name: "F32", "BF16", "F8_E4M3", ...
    pub fn name(self) -> &'static str {
        DTYPES.iter().find(|d| d.0 == self).map(|d| d.2).unwrap_or("UNKNOWN")
    }

    /// The dtype of a safetensors name, if it is one.
    pub fn from_name(name: &str) -> Option<Dtype> {
        DTYPES.iter().find(|d| d.2 == name && d.0 != Dtype::Unknown).map(|d| d.0)
    }

    /// Bytes per element (0 for Unknown).
    pub fn size(self) -> usize {
        DTYPES.iter().find(|d| d.0 == self).map(|d| d.3).unwrap_or(0)
    }
}

/// Low-precision schemes (`qs_low_scheme`); the layouts are described in qstore.h.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Passthrough,
    Int8Row,
    Int8Tensor,
    Fp8E4M3Row,
    Fp8E4M3Tensor,
    Fp8E5M2Tensor,
    Int8Group,
    Q8_0,
    Q4_0,
    Fp8E4M3Block128,
    Int4AsymGroup,
    Uint8AsymTensor,
    /// AutoGPTQ's checkpoint layout: codes `qweight` int32 [in/8, out], zero points the
    /// bytes of `qzeros` int32 [groups, out/8].
    GptqInt4,
    Int8RowCt,
    /// A scheme newer than this crate (its C number).
    Other(u32),
}

const SCHEMES: [(Scheme, sys::qs_low_scheme); 14] = [
    (Scheme::Passthrough, sys::QS_LOW_PASSTHROUGH),
    (Scheme::Int8Row, sys::QS_LOW_INT8_ROW),
    (Scheme::Int8Tensor, sys::QS_LOW_INT8_TENSOR),
    (Scheme::Fp8E4M3Row, sys::QS_LOW_FP8_E4M3_ROW),
    (Scheme::Fp8E4M3Tensor, sys::QS_LOW_FP8_E4M3_TENSOR),
    (Scheme::Fp8E5M2Tensor, sys::QS_LOW_FP8_E5M2_TENSOR),
    (Scheme::Int8Group, sys::QS_LOW_INT8_GROUP),
    (Scheme::Q8_0, sys::QS_LOW_Q8_0),
    (Scheme::Q4_0, sys::QS_LOW_Q4_0),
    (Scheme::Fp8E4M3Block128, sys::QS_LOW_FP8_E4M3_BLOCK128),
    (Scheme::Int4AsymGroup, sys::QS_LOW_INT4_ASYM_GROUP),
    (Scheme::Uint8AsymTensor, sys::QS_LOW_UINT8_ASYM_TENSOR),
    (Scheme::GptqInt4, sys::QS_LOW_GPTQ_INT4),
    (Scheme::Int8RowCt, sys::QS_LOW_INT8_ROW_CT),
];

impl Scheme {
    pub(crate) fn from_raw(raw: sys::qs_low_scheme) -> Scheme {
        SCHEMES.iter().find(|s| s.1 == raw).map(|s| s.0).unwrap_or(Scheme::Other(raw))
    }

    pub(crate) fn raw(self) -> sys::qs_low_scheme {
        match self {
            Scheme::Other(n) => n,
            s => SCHEMES.iter().find(|e| e.0 == s).map(|e| e.1).unwrap_or(sys::QS_LOW_PASSTHROUGH),
        }
    }
}

/// One tensor of a file (`qs_tensor_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub index: usize,
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    pub num_elements: u64,
    /// Precision levels: 1 passthrough, 2 low + high, 3+ a chain.
    pub num_levels: u32,
    /// The scheme of level 0 (what `load_low` returns).
    pub low_scheme: Scheme,
    pub low_dtype: Dtype,
    pub low_group_size: u32,
    pub low_scale_dtype: Dtype,
    pub high_bytes: u64,
    pub low_code_bytes: u64,
    pub low_scale_bytes: u64,
    pub low_zero_point_bytes: u64,
    pub stored_low_bytes: u64,
    pub stored_residual_bytes: u64,
    /// The low codes are stored raw (zero-copy `view_low` works).
    pub low_codes_are_raw: bool,
}

impl TensorInfo {
    /// Safety: `raw.name` points to a NUL-terminated string.
    pub(crate) unsafe fn from_raw(index: usize, raw: &sys::qs_tensor_info) -> TensorInfo {
        let ndim = (raw.ndim as usize).min(sys::QS_MAX_DIMS);
        TensorInfo {
            index,
            name: CStr::from_ptr(raw.name).to_string_lossy().into_owned(),
            dtype: Dtype::from_raw(raw.high_dtype),
            shape: raw.shape[..ndim].to_vec(),
            num_elements: raw.num_elements,
            num_levels: raw.num_levels,
            low_scheme: Scheme::from_raw(raw.low_scheme),
            low_dtype: Dtype::from_raw(raw.low_dtype),
            low_group_size: raw.low_group_size,
            low_scale_dtype: Dtype::from_raw(raw.low_scale_dtype),
            high_bytes: raw.high_bytes,
            low_code_bytes: raw.low_code_bytes,
            low_scale_bytes: raw.low_scale_bytes,
            low_zero_point_bytes: raw.low_zero_point_bytes,
            stored_low_bytes: raw.stored_low_bytes,
            stored_residual_bytes: raw.stored_residual_bytes,
            low_codes_are_raw: raw.low_codes_are_raw != 0,
        }
    }
}

/// One precision level of a tensor (`qs_level_info`): level 0 is the lowest, the top
/// level (num_levels - 1) the high precision (scheme Passthrough).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelInfo {
    pub level: u32,
    pub scheme: Scheme,
    pub group_size: u32,
    pub code_dtype: Dtype,
    pub scale_dtype: Dtype,
    pub code_bytes: u64,
    pub scale_bytes: u64,
    pub zero_point_bytes: u64,
    pub stored_bytes: u64,
}

impl LevelInfo {
    pub(crate) fn from_raw(level: u32, raw: &sys::qs_level_info) -> LevelInfo {
        LevelInfo {
            level,
            scheme: Scheme::from_raw(raw.scheme),
            group_size: raw.group_size,
            code_dtype: Dtype::from_raw(raw.code_dtype),
            scale_dtype: Dtype::from_raw(raw.scale_dtype),
            code_bytes: raw.code_bytes,
            scale_bytes: raw.scale_bytes,
            zero_point_bytes: raw.zero_point_bytes,
            stored_bytes: raw.stored_bytes,
        }
    }
}
