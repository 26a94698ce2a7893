// Writing a .qs file tensor by tensor (qs_writer_*): the file appears at its path only
// when `finish` succeeds; dropping an unfinished Writer aborts it and leaves nothing.
use crate::error::{call, Error, Result, Status};
use crate::file::c_string;
use crate::types::{Dtype, Scheme};
use qstore_sys as sys;
use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::path::Path;
use std::ptr::{self, NonNull};

/// Options of `Writer::create` (`qs_writer_options`, the options of `qstore pack`).
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// The low precisions, highest first, as `qstore pack --low`: "int8-row" (a pair),
    /// "int8-row,q4_0" (a chain). None = "int8-row".
    pub low_schemes: Option<String>,
    /// Store the low codes raw and 64-byte aligned (zero-copy `view_low`).
    pub low_raw: bool,
    /// fnmatch(3) patterns of names stored unquantized.
    pub exclude: Vec<String>,
    /// zstd level, -7..22.
    pub zstd_level: i32,
    /// 0 = one per online CPU.
    pub num_threads: u32,
    /// A quantizable tensor without given low codes while others have them is an error.
    pub strict_given_low: bool,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        // Safety: no arguments.
        let d = unsafe { sys::qs_writer_options_default() };
        WriterOptions {
            low_schemes: None,
            low_raw: d.low_raw != 0,
            exclude: Vec::new(),
            zstd_level: d.zstd_level,
            num_threads: d.num_threads,
            strict_given_low: d.strict_given_low != 0,
        }
    }
}

/// A low precision made elsewhere for one tensor, in the layout `load_level` returns
/// for `scheme` (`qs_given_low`).
#[derive(Clone, Copy, Debug)]
pub struct GivenLow<'a> {
    pub scheme: Scheme,
    pub group_size: u32,
    pub codes: &'a [u8],
    pub scales: &'a [u8],
    pub zero_points: &'a [u8],
}

/// A .qs file being written (`qs_writer`).
pub struct Writer {
    raw: NonNull<sys::qs_writer>,
}

// Safety: a qs_writer is used by one call at a time (every method takes &mut self);
// it does not depend on the thread that created it.
unsafe impl Send for Writer {}

fn data_ptr(s: &[u8]) -> *const c_void {
    if s.is_empty() {
        ptr::null()
    } else {
        s.as_ptr() as *const c_void
    }
}

impl Writer {
    /// Starts writing `path` (checked now; nothing appears there before `finish`).
    pub fn create<P: AsRef<Path>>(path: P, options: &WriterOptions) -> Result<Writer> {
        use std::os::unix::ffi::OsStrExt;
        let path = path.as_ref();
        let cpath = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::new(Status::InvalidArgument, format!("path contains a NUL byte: {}", path.display())))?;
        let schemes = match &options.low_schemes {
            Some(s) => Some(c_string(s, "low_schemes")?),
            None => None,
        };
        let exclude: Vec<CString> =
            options.exclude.iter().map(|p| c_string(p, "exclude pattern")).collect::<Result<_>>()?;
        let exclude_ptrs: Vec<*const c_char> = exclude.iter().map(|c| c.as_ptr()).collect();
        // Safety: no arguments.
        let mut o = unsafe { sys::qs_writer_options_default() };
        o.low_schemes = schemes.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        o.low_raw = options.low_raw as i32;
        o.exclude = if exclude_ptrs.is_empty() { ptr::null() } else { exclude_ptrs.as_ptr() };
        o.exclude_count = exclude_ptrs.len();
        o.zstd_level = options.zstd_level;
        o.num_threads = options.num_threads;
        o.strict_given_low = options.strict_given_low as i32;
        let mut out: *mut sys::qs_writer = ptr::null_mut();
        // Safety: the strings and arrays live until the call returns (the writer copies them).
        call(|e| unsafe { sys::qs_writer_create_e(cpath.as_ptr(), &o, &mut out, e) })?;
        match NonNull::new(out) {
            Some(raw) => Ok(Writer { raw }),
            None => Err(Error::new(Status::Internal, "writer created without a handle")),
        }
    }

    /// A string pair of the file's metadata (safetensors' __metadata__).
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        let (k, v) = (c_string(key, "metadata key")?, c_string(value, "metadata value")?);
        // Safety: live writer, valid strings.
        call(|e| unsafe { sys::qs_writer_set_metadata_e(self.raw.as_ptr(), k.as_ptr(), v.as_ptr(), e) })
    }

    /// One tensor from its high-precision bytes (row-major, host order), quantized with
    /// the writer's schemes when it qualifies. The bytes are copied before it returns.
    pub fn add_tensor(&mut self, name: &str, dtype: Dtype, shape: &[u64], data: &[u8]) -> Result<()> {
        self.add(name, dtype, shape, data, None)
    }

    /// One tensor with its low precision given (`qstore pack --low FILE`).
    pub fn add_tensor_with_low(
        &mut self, name: &str, dtype: Dtype, shape: &[u64], data: &[u8], low: &GivenLow<'_>,
    ) -> Result<()> {
        let g = sys::qs_given_low {
            struct_size: std::mem::size_of::<sys::qs_given_low>(),
            scheme: low.scheme.raw(),
            group_size: low.group_size,
            codes: data_ptr(low.codes),
            codes_size: low.codes.len(),
            scales: data_ptr(low.scales),
            scales_size: low.scales.len(),
            zero_points: data_ptr(low.zero_points),
            zero_points_size: low.zero_points.len(),
        };
        self.add(name, dtype, shape, data, Some(&g))
    }

    fn add(&mut self, name: &str, dtype: Dtype, shape: &[u64], data: &[u8], low: Option<&sys::qs_given_low>)
        -> Result<()> {
        let cname = c_string(name, "tensor name")?;
        let ndim = u32::try_from(shape.len())
            .map_err(|_| Error::new(Status::InvalidArgument, "too many dimensions"))?;
        let shape_ptr = if shape.is_empty() { ptr::null() } else { shape.as_ptr() };
        let low_ptr = low.map_or(ptr::null(), |g| g as *const sys::qs_given_low);
        // Safety: every pointer is valid for the length given with it until the call returns.
        call(|e| unsafe {
            sys::qs_writer_add_tensor_e(
                self.raw.as_ptr(), cname.as_ptr(), dtype.raw(), ndim, shape_ptr, data_ptr(data), data.len(), low_ptr, e,
            )
        })
    }

    /// Writes what remains and moves the file into place atomically.
    pub fn finish(self) -> Result<()> {
        // Safety: live writer; Drop frees it afterwards (a finished writer is only freed).
        call(|e| unsafe { sys::qs_writer_finish_e(self.raw.as_ptr(), e) })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Safety: freed once; an unfinished writer is aborted (its temporary removed).
        unsafe { sys::qs_writer_free(self.raw.as_ptr()) }
    }
}
