// The file's metadata (safetensors' __metadata__ string pairs, or GGUF's typed values),
// copied out of the handle in the input's order.
use crate::error::{call, Error, Result, Status};
use crate::file::{c_string, File};
use qstore_sys as sys;
use std::mem::size_of;
use std::os::raw::c_char;

/// A metadata value; numbers and bools are vectors (one element for a single value).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Strings(Vec<String>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
}

impl Value {
    /// The string of a single string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One key/value pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Value,
    /// The value is an array (else a single value).
    pub is_array: bool,
}

fn string_of(p: *const c_char, n: u64) -> String {
    if p.is_null() || n == 0 {
        return String::new();
    }
    // Safety: the library gives n readable bytes at p, valid while the file is open.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, n as usize) };
    String::from_utf8_lossy(bytes).into_owned()
}

// `count` elements of T packed (maybe unaligned) at `values`.
fn numbers<T: Copy>(values: *const std::os::raw::c_void, count: u64) -> Vec<T> {
    let n = count as usize;
    let mut v: Vec<T> = Vec::with_capacity(n);
    if n > 0 && !values.is_null() {
        // Safety: the library gives count packed values of this type at `values`; the copy
        // is bytewise, so alignment does not matter.
        unsafe {
            std::ptr::copy_nonoverlapping(values as *const u8, v.as_mut_ptr() as *mut u8, n * size_of::<T>());
            v.set_len(n);
        }
    }
    v
}

impl File {
    /// Number of metadata entries.
    pub fn metadata_len(&self) -> usize {
        // Safety: live handle.
        unsafe { sys::qs_metadata_count(self.raw_const()) }
    }

    /// Every metadata entry, in the input's order.
    pub fn metadata(&self) -> Result<Vec<Entry>> {
        (0..self.metadata_len()).map(|i| self.metadata_entry(i)).collect()
    }

    /// The value of `key`, or None.
    pub fn metadata_value(&self, key: &str) -> Result<Option<Value>> {
        let ckey = c_string(key, "metadata key")?;
        let mut index = 0usize;
        // Safety: live handle, valid string and out pointer.
        match call(|e| unsafe { sys::qs_find_metadata_e(self.raw_const(), ckey.as_ptr(), &mut index, e) }) {
            Ok(()) => Ok(Some(self.metadata_entry(index)?.value)),
            Err(e) if e.status() == Status::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The entry at `index`.
    pub fn metadata_entry(&self, index: usize) -> Result<Entry> {
        let mut m: sys::qs_metadata_entry = unsafe { std::mem::zeroed() };
        m.struct_size = size_of::<sys::qs_metadata_entry>();
        // Safety: live handle, entry sized as declared.
        call(|e| unsafe { sys::qs_metadata_get_e(self.raw_const(), index, &mut m, e) })?;
        if m.key.is_null() {
            return Err(Error::new(Status::Internal, "metadata entry without a key"));
        }
        // Safety: a NUL-terminated key owned by the handle.
        let key = unsafe { std::ffi::CStr::from_ptr(m.key) }.to_string_lossy().into_owned();
        let (v, n) = (m.values, m.count);
        let value = match m.type_ {
            sys::QS_VALUE_STRING if m.is_array == 0 => Value::String(string_of(m.string, m.string_bytes)),
            sys::QS_VALUE_STRING => Value::Strings(self.metadata_strings(index, n)?),
            sys::QS_VALUE_U8 => Value::U8(numbers(v, n)),
            sys::QS_VALUE_I8 => Value::I8(numbers(v, n)),
            sys::QS_VALUE_U16 => Value::U16(numbers(v, n)),
            sys::QS_VALUE_I16 => Value::I16(numbers(v, n)),
            sys::QS_VALUE_U32 => Value::U32(numbers(v, n)),
            sys::QS_VALUE_I32 => Value::I32(numbers(v, n)),
            sys::QS_VALUE_U64 => Value::U64(numbers(v, n)),
            sys::QS_VALUE_I64 => Value::I64(numbers(v, n)),
            sys::QS_VALUE_F32 => Value::F32(numbers(v, n)),
            sys::QS_VALUE_F64 => Value::F64(numbers(v, n)),
            sys::QS_VALUE_BOOL => Value::Bool(numbers::<u8>(v, n).into_iter().map(|b| b != 0).collect()),
            t => return Err(Error::new(Status::Unsupported, format!("metadata '{}': value type {}", key, t))),
        };
        Ok(Entry { key, value, is_array: m.is_array != 0 })
    }

    fn metadata_strings(&self, index: usize, count: u64) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for k in 0..count {
            let (mut p, mut n): (*const c_char, u64) = (std::ptr::null(), 0);
            // Safety: live handle and out pointers.
            call(|e| unsafe { sys::qs_metadata_string_at_e(self.raw_const(), index, k, &mut p, &mut n, e) })?;
            out.push(string_of(p, n));
        }
        Ok(out)
    }
}
