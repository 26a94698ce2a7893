// A loaded precision level with its data typed by scheme: codes as i8, u8 (FP8 bytes,
// UINT8, ggml blocks), packed INT4 words or the tensor's own bytes; scales as f32 or
// f16 bits (u16); zero points as u8.
use crate::error::{invalid, Result};
use crate::types::{LevelInfo, Scheme};
use std::mem::size_of;

/// The codes of a level, typed by its scheme.
#[derive(Clone, Debug, PartialEq)]
pub enum Codes {
    /// The tensor's own bytes in its dtype: the high level, or a passthrough tensor.
    Raw(Vec<u8>),
    /// int8-row, int8-tensor, int8-group: row-major int8 codes.
    I8(Vec<i8>),
    /// fp8-e4m3-row / -tensor / -block128: OCP FP8 E4M3 bytes.
    Fp8E4M3(Vec<u8>),
    /// fp8-e5m2-tensor: OCP FP8 E5M2 bytes.
    Fp8E5M2(Vec<u8>),
    /// q8_0 / q4_0: ggml's block bytes, row after row (the scales are inside the blocks).
    GgmlBlocks(Vec<u8>),
    /// int4-asym-group: eight 4-bit codes per little-endian int32 along a row.
    Int4Packed(Vec<i32>),
    /// uint8-asym-tensor: uint8 codes.
    U8(Vec<u8>),
}

/// The scales of a level.
#[derive(Clone, Debug, PartialEq)]
pub enum Scales {
    /// No separate scales (the high level, passthrough, ggml blocks).
    None,
    F32(Vec<f32>),
    /// IEEE half-precision bits.
    F16(Vec<u16>),
}

/// One precision level of one tensor, as `File::load_level` returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    pub info: LevelInfo,
    pub codes: Codes,
    pub scales: Scales,
    /// uint8 zero points (int4-asym-group, uint8-asym-tensor), the bytes of the packed
    /// int32 qzeros (gptq-int4), else empty.
    pub zero_points: Vec<u8>,
}

fn bytes_of<T>(v: &[T]) -> &[u8] {
    // Safety: every T used here (integers, floats) is plain data without padding.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, v.len() * size_of::<T>()) }
}

impl Codes {
    /// The codes as the bytes the C API wrote.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Codes::Raw(v) | Codes::Fp8E4M3(v) | Codes::Fp8E5M2(v) | Codes::GgmlBlocks(v) | Codes::U8(v) => v,
            Codes::I8(v) => bytes_of(v),
            Codes::Int4Packed(v) => bytes_of(v),
        }
    }
}

impl Scales {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Scales::None => &[],
            Scales::F32(v) => bytes_of(v),
            Scales::F16(v) => bytes_of(v),
        }
    }
}

/// A vector of `bytes / size_of::<T>()` elements whose memory the C API is about to fill.
pub(crate) struct Filling<T> {
    vec: Vec<T>,
    len: usize,
}

impl<T: Copy> Filling<T> {
    pub(crate) fn new(bytes: u64, what: &str) -> Result<Filling<T>> {
        let size = size_of::<T>() as u64;
        if bytes % size != 0 {
            return Err(invalid(format!("{} bytes ({}) are not a multiple of {}", what, bytes, size)));
        }
        let len = usize::try_from(bytes / size).map_err(|_| invalid(format!("{} too large", what)))?;
        Ok(Filling { vec: Vec::with_capacity(len), len })
    }

    pub(crate) fn ptr(&mut self) -> *mut std::os::raw::c_void {
        self.vec.as_mut_ptr() as *mut std::os::raw::c_void
    }

    pub(crate) fn byte_len(&self) -> usize {
        self.len * size_of::<T>()
    }

    /// Safety: the C API has written all byte_len() bytes.
    pub(crate) unsafe fn filled(mut self) -> Vec<T> {
        self.vec.set_len(self.len);
        self.vec
    }
}

/// The buffers of one level's load, typed by `info.scheme`.
pub(crate) enum CodeBuf {
    Bytes(Filling<u8>, fn(Vec<u8>) -> Codes),
    I8(Filling<i8>),
    I32(Filling<i32>),
}

pub(crate) enum ScaleBuf {
    None,
    F32(Filling<f32>),
    F16(Filling<u16>),
}

impl CodeBuf {
    // The high level reports scheme Passthrough: its codes are the tensor's own bytes.
    pub(crate) fn for_level(info: &LevelInfo) -> Result<CodeBuf> {
        let n = info.code_bytes;
        Ok(match info.scheme {
            Scheme::Passthrough => CodeBuf::Bytes(Filling::new(n, "codes")?, Codes::Raw),
            Scheme::Int8Row | Scheme::Int8Tensor | Scheme::Int8Group | Scheme::Int8RowCt => {
                CodeBuf::I8(Filling::new(n, "codes")?)
            }
            Scheme::Fp8E4M3Row | Scheme::Fp8E4M3Tensor | Scheme::Fp8E4M3Block128 => {
                CodeBuf::Bytes(Filling::new(n, "codes")?, Codes::Fp8E4M3)
            }
            Scheme::Fp8E5M2Tensor => CodeBuf::Bytes(Filling::new(n, "codes")?, Codes::Fp8E5M2),
            Scheme::Q8_0 | Scheme::Q4_0 => CodeBuf::Bytes(Filling::new(n, "codes")?, Codes::GgmlBlocks),
            Scheme::Int4AsymGroup | Scheme::GptqInt4 => CodeBuf::I32(Filling::new(n, "codes")?),
            Scheme::Uint8AsymTensor => CodeBuf::Bytes(Filling::new(n, "codes")?, Codes::U8),
            Scheme::Other(_) => CodeBuf::Bytes(Filling::new(n, "codes")?, Codes::Raw),
        })
    }

    pub(crate) fn ptr_len(&mut self) -> (*mut std::os::raw::c_void, usize) {
        match self {
            CodeBuf::Bytes(f, _) => (f.ptr(), f.byte_len()),
            CodeBuf::I8(f) => (f.ptr(), f.byte_len()),
            CodeBuf::I32(f) => (f.ptr(), f.byte_len()),
        }
    }

    /// Safety: the C API has filled the buffer.
    pub(crate) unsafe fn filled(self) -> Codes {
        match self {
            CodeBuf::Bytes(f, make) => make(f.filled()),
            CodeBuf::I8(f) => Codes::I8(f.filled()),
            CodeBuf::I32(f) => Codes::Int4Packed(f.filled()),
        }
    }
}

impl ScaleBuf {
    pub(crate) fn for_level(info: &LevelInfo) -> Result<ScaleBuf> {
        use crate::types::Dtype;
        Ok(match (info.scale_bytes, info.scale_dtype) {
            (0, _) => ScaleBuf::None,
            (n, Dtype::F16) => ScaleBuf::F16(Filling::new(n, "scales")?),
            (n, Dtype::F32) => ScaleBuf::F32(Filling::new(n, "scales")?),
            (_, d) => return Err(invalid(format!("scales of dtype {} are not known to this crate", d.name()))),
        })
    }

    pub(crate) fn ptr_len(&mut self) -> (*mut std::os::raw::c_void, usize) {
        match self {
            ScaleBuf::None => (std::ptr::null_mut(), 0),
            ScaleBuf::F32(f) => (f.ptr(), f.byte_len()),
            ScaleBuf::F16(f) => (f.ptr(), f.byte_len()),
        }
    }

    /// Safety: the C API has filled the buffer.
    pub(crate) unsafe fn filled(self) -> Scales {
        match self {
            ScaleBuf::None => Scales::None,
            ScaleBuf::F32(f) => Scales::F32(f.filled()),
            ScaleBuf::F16(f) => Scales::F16(f.filled()),
        }
    }
}
