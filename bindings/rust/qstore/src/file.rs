// An open .qs file: opening (path or memory), the tensors, and loads of every precision
// into owned vectors or caller slices. One File serves loads from many threads.
use crate::error::{call, invalid, Error, Result, Status};
use crate::level::{CodeBuf, Level, ScaleBuf};
use crate::types::{LevelInfo, TensorInfo};
use qstore_sys as sys;
use std::ffi::CString;
use std::os::raw::c_void;
use std::path::Path;
use std::ptr::{self, NonNull};

/// Options of `File::open_with` (`qs_open_options`).
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// Worker threads of the handle: 0 = one per online CPU, 1 = the calling thread only.
    pub num_threads: u32,
    /// Verify each part's checksum on every load (default true).
    pub verify_checksums: bool,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        // Safety: no arguments.
        let d = unsafe { sys::qs_open_options_default() };
        OpenOptions { num_threads: d.num_threads, verify_checksums: d.verify_checksums != 0 }
    }
}

impl OpenOptions {
    pub(crate) fn raw(&self) -> sys::qs_open_options {
        // Safety: no arguments.
        let mut o = unsafe { sys::qs_open_options_default() };
        o.num_threads = self.num_threads;
        o.verify_checksums = self.verify_checksums as i32;
        o
    }
}

/// An open .qs file (`qs_file`), closed on drop.
pub struct File {
    raw: NonNull<sys::qs_file>,
    // The bytes of a file opened from memory: they must outlive the handle.
    _memory: Option<Box<dyn AsRef<[u8]> + Send + Sync>>,
}

// Safety: the C API allows every call but qs_close on one handle from many threads at
// once; qs_close runs only in Drop, which has the File to itself.
unsafe impl Send for File {}
unsafe impl Sync for File {}

pub(crate) fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| invalid(format!("{} contains a NUL byte: {:?}", what, s)))
}

fn path_string(path: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| invalid(format!("path contains a NUL byte: {}", path.display())))
}

impl File {
    /// Opens a .qs file with the default options.
    pub fn open<P: AsRef<Path>>(path: P) -> Result<File> {
        File::open_with(path, &OpenOptions::default())
    }

    pub fn open_with<P: AsRef<Path>>(path: P, options: &OpenOptions) -> Result<File> {
        let cpath = path_string(path.as_ref())?;
        let opts = options.raw();
        let mut out: *mut sys::qs_file = ptr::null_mut();
        // Safety: valid string, options and out pointer for the duration of the call.
        call(|e| unsafe { sys::qs_open_e(cpath.as_ptr(), &opts, &mut out, e) })?;
        File::from_raw(out, None)
    }

    /// Opens a .qs file on a web server by its http:// or https:// URL, read with HTTP
    /// range requests (qs_open_url_e: docs/API.md, opening over HTTP).
    pub fn open_url(url: &str) -> Result<File> {
        File::open_url_with(url, &OpenOptions::default())
    }

    pub fn open_url_with(url: &str, options: &OpenOptions) -> Result<File> {
        let curl = c_string(url, "URL")?;
        let opts = options.raw();
        let mut out: *mut sys::qs_file = ptr::null_mut();
        // Safety: valid string, options and out pointer for the duration of the call.
        call(|e| unsafe { sys::qs_open_url_e(curl.as_ptr(), &opts, &mut out, e) })?;
        File::from_raw(out, None)
    }

    /// Opens a .qs file held in memory (e.g. fetched over the network); the File keeps
    /// the bytes.
    pub fn from_memory<T: AsRef<[u8]> + Send + Sync + 'static>(data: T) -> Result<File> {
        File::from_memory_with(data, &OpenOptions::default())
    }

    pub fn from_memory_with<T: AsRef<[u8]> + Send + Sync + 'static>(data: T, options: &OpenOptions) -> Result<File> {
        // Boxed first: the bytes must not move while the handle lives.
        let data: Box<dyn AsRef<[u8]> + Send + Sync> = Box::new(data);
        let bytes = (*data).as_ref();
        let (ptr, len) = (bytes.as_ptr() as *const c_void, bytes.len());
        let opts = options.raw();
        let mut out: *mut sys::qs_file = ptr::null_mut();
        // Safety: the bytes stay valid and unchanged until the handle is closed (the File owns them).
        call(|e| unsafe { sys::qs_open_memory_e(ptr, len, &opts, &mut out, e) })?;
        File::from_raw(out, Some(data))
    }

    pub(crate) fn from_raw(raw: *mut sys::qs_file, memory: Option<Box<dyn AsRef<[u8]> + Send + Sync>>) -> Result<File> {
        match NonNull::new(raw) {
            Some(raw) => Ok(File { raw, _memory: memory }),
            None => Err(Error::new(Status::Internal, "open succeeded without a handle")),
        }
    }

    fn c(&self) -> *mut sys::qs_file {
        self.raw.as_ptr()
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        // Safety: live handle.
        unsafe { sys::qs_tensor_count(self.c()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensor at `index` (file order).
    pub fn tensor(&self, index: usize) -> Result<TensorInfo> {
        let info = self.raw_info(index)?;
        // Safety: the library set name to a NUL-terminated string owned by the handle.
        Ok(unsafe { TensorInfo::from_raw(index, &info) })
    }

    fn raw_info(&self, index: usize) -> Result<sys::qs_tensor_info> {
        // Safety: an all-zero qs_tensor_info is valid (null name, zero numbers).
        let mut info: sys::qs_tensor_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<sys::qs_tensor_info>();
        // Safety: live handle, info sized as declared.
        call(|e| unsafe { sys::qs_tensor_info_get_e(self.c(), index, &mut info, e) })?;
        Ok(info)
    }

    /// The tensors in file order.
    pub fn tensors(&self) -> Tensors<'_> {
        Tensors { file: self, next: 0, end: self.len() }
    }

    /// Index of the tensor named `name` (status NotFound if there is none).
    pub fn find(&self, name: &str) -> Result<usize> {
        let cname = c_string(name, "tensor name")?;
        let mut index = 0usize;
        // Safety: live handle, valid string and out pointer.
        call(|e| unsafe { sys::qs_find_tensor_e(self.c(), cname.as_ptr(), &mut index, e) })?;
        Ok(index)
    }

    /// Level `level` (0 = lowest .. num_levels - 1 = high) of tensor `index`.
    pub fn level_info(&self, index: usize, level: u32) -> Result<LevelInfo> {
        // Safety: an all-zero qs_level_info is valid.
        let mut info: sys::qs_level_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<sys::qs_level_info>();
        // Safety: live handle, info sized as declared.
        call(|e| unsafe { sys::qs_level_info_get_e(self.c(), index, level, &mut info, e) })?;
        Ok(LevelInfo::from_raw(level, &info))
    }

    /// The high precision of tensor `index`, bit-exact, in its dtype's bytes.
    pub fn load_high(&self, index: usize) -> Result<Vec<u8>> {
        let info = self.raw_info(index)?;
        let mut out = crate::level::Filling::<u8>::new(info.high_bytes, "high")?;
        let (p, n) = (out.ptr(), out.byte_len());
        // Safety: p has room for n bytes.
        call(|e| unsafe { sys::qs_load_high_e(self.c(), index, p, n, e) })?;
        // Safety: the call succeeded, so it wrote all n bytes.
        Ok(unsafe { out.filled() })
    }

    /// The high precision into `out` (at least `high_bytes` long, else BufferTooSmall).
    pub fn load_high_into(&self, index: usize, out: &mut [u8]) -> Result<()> {
        let (p, n) = (out.as_mut_ptr() as *mut c_void, out.len());
        // Safety: out is a writable slice of n bytes.
        call(|e| unsafe { sys::qs_load_high_e(self.c(), index, p, n, e) })
    }

    /// The lowest precision (level 0) with typed codes, scales and zero points.
    pub fn load_low(&self, index: usize) -> Result<Level> {
        self.load_level(index, 0)
    }

    /// Any precision level; the top level holds the high precision in `Codes::Raw`.
    pub fn load_level(&self, index: usize, level: u32) -> Result<Level> {
        let info = self.level_info(index, level)?;
        let mut codes = CodeBuf::for_level(&info)?;
        let mut scales = ScaleBuf::for_level(&info)?;
        let mut zps = crate::level::Filling::<u8>::new(info.zero_point_bytes, "zero points")?;
        let (cp, cn) = codes.ptr_len();
        let (sp, sn) = scales.ptr_len();
        let (zp, zn) = (zps.ptr(), zps.byte_len());
        // Safety: each pointer has room for the byte count given with it.
        call(|e| unsafe { sys::qs_load_level_e(self.c(), index, level, cp, cn, sp, sn, zp, zn, e) })?;
        // Safety: the call succeeded, so every buffer is filled.
        unsafe { Ok(Level { info, codes: codes.filled(), scales: scales.filled(), zero_points: zps.filled() }) }
    }

    /// The high precision of several tensors in one call, decoded in parallel on the
    /// handle's threads (also across tensors: faster than one load_high per tensor for
    /// models of many small tensors). On failure no vector is returned.
    pub fn load_high_many(&self, indices: &[usize]) -> Result<Vec<Vec<u8>>> {
        let mut outs = Vec::with_capacity(indices.len());
        for &i in indices {
            outs.push(crate::level::Filling::<u8>::new(self.raw_info(i)?.high_bytes, "high")?);
        }
        let ptrs: Vec<*mut c_void> = outs.iter_mut().map(|o| o.ptr()).collect();
        let sizes: Vec<usize> = outs.iter().map(|o| o.byte_len()).collect();
        // Safety: ptrs[k] has room for sizes[k] bytes; the arrays hold indices.len() entries.
        call(|e| unsafe {
            sys::qs_load_high_many_e(self.c(), indices.len(), indices.as_ptr(), ptrs.as_ptr(), sizes.as_ptr(), e)
        })?;
        // Safety: the call succeeded, so every buffer is filled.
        Ok(outs.into_iter().map(|o| unsafe { o.filled() }).collect())
    }

    /// The lowest precision (level 0) of several tensors in one call, typed as by
    /// load_low. Zero points (int4-asym-group, uint8-asym-tensor), which the batched C
    /// call does not return, are loaded tensor by tensor.
    pub fn load_low_many(&self, indices: &[usize]) -> Result<Vec<Level>> {
        let mut bufs = Vec::with_capacity(indices.len());
        for &i in indices {
            let info = self.level_info(i, 0)?;
            bufs.push((info, CodeBuf::for_level(&info)?, ScaleBuf::for_level(&info)?));
        }
        let (mut cps, mut cns, mut sps, mut sns) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (_, codes, scales) in bufs.iter_mut() {
            let ((cp, cn), (sp, sn)) = (codes.ptr_len(), scales.ptr_len());
            cps.push(cp);
            cns.push(cn);
            sps.push(sp);
            sns.push(sn);
        }
        // Safety: each pointer has room for the byte count at the same position.
        call(|e| unsafe {
            sys::qs_load_low_many_e(
                self.c(), indices.len(), indices.as_ptr(), cps.as_ptr(), cns.as_ptr(), sps.as_ptr(), sns.as_ptr(), e,
            )
        })?;
        let mut out = Vec::with_capacity(indices.len());
        for (k, (info, codes, scales)) in bufs.into_iter().enumerate() {
            let mut zero_points = vec![0u8; info.zero_point_bytes as usize];
            if !zero_points.is_empty() {
                let (cp, cn) = (cps[k], cns[k]);
                let (sp, sn) = (sps[k], sns[k]);
                let (zp, zn) = (zero_points.as_mut_ptr() as *mut c_void, zero_points.len());
                // Safety: the buffers above, still alive, and the zero points' vector.
                call(|e| unsafe { sys::qs_load_level_e(self.c(), indices[k], 0, cp, cn, sp, sn, zp, zn, e) })?;
            }
            // Safety: the batched call (and the zero points' call) filled the buffers.
            out.push(unsafe { Level { info, codes: codes.filled(), scales: scales.filled(), zero_points } });
        }
        Ok(out)
    }

    /// A level into caller slices (sizes from `level_info`; `scales` and `zero_points`
    /// may be empty when the level has none).
    pub fn load_level_into(
        &self, index: usize, level: u32, codes: &mut [u8], scales: &mut [u8], zero_points: &mut [u8],
    ) -> Result<()> {
        let ptr = |s: &mut [u8]| if s.is_empty() { ptr::null_mut() } else { s.as_mut_ptr() as *mut c_void };
        let (cp, cn) = (ptr(codes), codes.len());
        let (sp, sn) = (ptr(scales), scales.len());
        let (zp, zn) = (ptr(zero_points), zero_points.len());
        // Safety: each pointer is a writable slice of the length given with it (or NULL/0).
        call(|e| unsafe { sys::qs_load_level_e(self.c(), index, level, cp, cn, sp, sn, zp, zn, e) })
    }

    /// Level `level` of rows [first_row, first_row + row_count) (dimension 0): sizes,
    /// and for schemes whose scales span several rows, the scales of the touched tiles.
    pub fn rows_level_info(&self, index: usize, level: u32, first_row: u64, row_count: u64) -> Result<LevelInfo> {
        // Safety: an all-zero qs_level_info is valid.
        let mut info: sys::qs_level_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<sys::qs_level_info>();
        // Safety: live handle, info sized as declared.
        call(|e| unsafe { sys::qs_rows_level_info_get_e(self.c(), index, level, first_row, row_count, &mut info, e) })?;
        Ok(LevelInfo::from_raw(level, &info))
    }

    /// Rows [first_row, first_row + row_count) of the high precision, bit-exact (only
    /// the coding blocks that hold them are decoded: safetensors' get_slice).
    pub fn load_high_rows(&self, index: usize, first_row: u64, row_count: u64) -> Result<Vec<u8>> {
        let top = self.tensor(index)?.num_levels.saturating_sub(1);
        let info = self.rows_level_info(index, top, first_row, row_count)?;
        let mut out = crate::level::Filling::<u8>::new(info.code_bytes, "high")?;
        let (p, n) = (out.ptr(), out.byte_len());
        // Safety: p has room for n bytes.
        call(|e| unsafe { sys::qs_load_high_rows_e(self.c(), index, first_row, row_count, p, n, e) })?;
        // Safety: the call succeeded, so it wrote all n bytes.
        Ok(unsafe { out.filled() })
    }

    /// Rows of any level, typed as by load_level.
    pub fn load_level_rows(&self, index: usize, level: u32, first_row: u64, row_count: u64) -> Result<Level> {
        let info = self.rows_level_info(index, level, first_row, row_count)?;
        let mut codes = CodeBuf::for_level(&info)?;
        let mut scales = ScaleBuf::for_level(&info)?;
        let mut zps = crate::level::Filling::<u8>::new(info.zero_point_bytes, "zero points")?;
        let ((cp, cn), (sp, sn)) = (codes.ptr_len(), scales.ptr_len());
        let (zp, zn) = (zps.ptr(), zps.byte_len());
        // Safety: each pointer has room for the byte count given with it.
        call(|e| unsafe {
            sys::qs_load_level_rows_e(self.c(), index, level, first_row, row_count, cp, cn, sp, sn, zp, zn, e)
        })?;
        // Safety: the call succeeded, so every buffer is filled.
        unsafe { Ok(Level { info, codes: codes.filled(), scales: scales.filled(), zero_points: zps.filled() }) }
    }

    /// Zero-copy view of the low codes and scales (files packed with low codes raw, and
    /// passthrough tensors); status NotAvailable when the codes are entropy-coded.
    /// The slices borrow the File, so they cannot outlive it (the handle is closed on
    /// drop, and there is no other way to close it):
    ///
    /// ```compile_fail,E0505
    /// let f = qstore::File::open("model-raw.qs").unwrap();
    /// let (codes, _) = f.view_low(0).unwrap();
    /// drop(f);
    /// println!("{}", codes.len());
    /// ```
    pub fn view_low(&self, index: usize) -> Result<(&[u8], &[u8])> {
        let info = self.tensor(index)?;
        let (mut codes, mut scales): (*const c_void, *const c_void) = (ptr::null(), ptr::null());
        // Safety: live handle and out pointers.
        call(|e| unsafe { sys::qs_view_low_e(self.c(), index, &mut codes, &mut scales, e) })?;
        let slice = |p: *const c_void, n: u64| -> &[u8] {
            if p.is_null() || n == 0 {
                &[]
            } else {
                // Safety: the library guarantees n readable bytes at p until the handle closes,
                // and the slice borrows self.
                unsafe { std::slice::from_raw_parts(p as *const u8, n as usize) }
            }
        };
        Ok((slice(codes, info.low_code_bytes), slice(scales, info.low_scale_bytes)))
    }

    /// Verifies every checksum and decodes every tensor in every precision.
    pub fn verify(&self) -> Result<()> {
        // Safety: live handle.
        call(|e| unsafe { sys::qs_verify_e(self.c(), e) })
    }

    /// Bytes that opening reads (header, directory, metadata, tensor index).
    pub fn index_prefix_bytes(&self) -> Result<u64> {
        let mut n = 0u64;
        // Safety: live handle and out pointer.
        call(|e| unsafe { sys::qs_prefix_bytes_e(self.c(), sys::QS_PREFIX_INDEX, &mut n, e) })?;
        Ok(n)
    }

    /// The largest number of levels of any tensor (1 when none is quantized).
    pub fn level_count(&self) -> u32 {
        // Safety: live handle.
        unsafe { sys::qs_level_count(self.c()) }
    }

    /// The smallest prefix of the file that serves every level <= `level`.
    pub fn level_prefix_bytes(&self, level: u32) -> Result<u64> {
        let mut n = 0u64;
        // Safety: live handle and out pointer.
        call(|e| unsafe { sys::qs_level_prefix_bytes_e(self.c(), level, &mut n, e) })?;
        Ok(n)
    }

    pub(crate) fn raw_const(&self) -> *const sys::qs_file {
        self.raw.as_ptr()
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // Safety: the handle is live and closed once; no other call can run (we own self).
        unsafe { sys::qs_close(self.raw.as_ptr()) }
    }
}

/// Iterator over a file's tensors (`File::tensors`).
pub struct Tensors<'a> {
    file: &'a File,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Tensors<'a> {
    type Item = Result<TensorInfo>;

    fn next(&mut self) -> Option<Result<TensorInfo>> {
        if self.next >= self.end {
            return None;
        }
        self.next += 1;
        Some(self.file.tensor(self.next - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.end - self.next, Some(self.end - self.next))
    }
}

impl<'a> ExactSizeIterator for Tensors<'a> {}
