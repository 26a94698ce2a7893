// Opening a .qs file from a read-at callback (qs_open_source_e): any source of bytes that
// is not a local path, such as an object store client, an archive member or a `Read + Seek`.
use crate::error::{call, Error, Result, Status};
use crate::file::{File, OpenOptions};
use qstore_sys as sys;
use std::ffi::CString;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Mutex;

/// Positioned reads of a file's bytes. The library calls `read_exact_at` from several of
/// the handle's threads at once, for byte ranges inside the size given at open.
pub trait ReadAt: Send + Sync {
    /// Fills all of `buf` with the bytes at `offset`, or fails.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

#[cfg(unix)]
impl ReadAt for std::fs::File {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

/// Any `Read + Seek` as a `ReadAt`: a mutex serialises the seek and the read.
struct SeekReader<R>(Mutex<R>);

impl<R: Read + Seek + Send> ReadAt for SeekReader<R> {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut r = self.0.lock().map_err(|_| io::Error::new(io::ErrorKind::Other, "reader poisoned"))?;
        r.seek(SeekFrom::Start(offset))?;
        r.read_exact(buf)
    }
}

// Called by the library's threads: a failed read or a panic of the reader becomes a
// non-zero return (the load then fails with Status::Io); a panic never unwinds into C.
unsafe extern "C" fn read_at<T: ReadAt>(user: *mut c_void, offset: u64, buffer: *mut c_void, n: usize) -> c_int {
    let source = &*(user as *const T);
    let buf: &mut [u8] = if n == 0 { &mut [] } else { std::slice::from_raw_parts_mut(buffer as *mut u8, n) };
    match catch_unwind(AssertUnwindSafe(|| source.read_exact_at(offset, buf))) {
        Ok(Ok(())) => 0,
        _ => 1,
    }
}

// Called once by the library, when the handle is closed or the open fails.
unsafe extern "C" fn release<T: ReadAt>(user: *mut c_void) {
    let boxed = Box::from_raw(user as *mut T);
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

impl File {
    /// Opens the `size` bytes that `source` reads as a .qs file. The File owns `source`
    /// (dropped when the File is); `name` names the file in error messages.
    pub fn from_read_at<T: ReadAt + 'static>(source: T, size: u64, name: &str) -> Result<File> {
        File::from_read_at_with(source, size, name, &OpenOptions::default())
    }

    pub fn from_read_at_with<T: ReadAt + 'static>(
        source: T,
        size: u64,
        name: &str,
        options: &OpenOptions,
    ) -> Result<File> {
        let cname = crate::file::c_string(name, "source name")?;
        let user = Box::into_raw(Box::new(source)) as *mut c_void;
        open_source(user, size, &cname, read_at::<T>, release::<T>, options)
    }

    /// Opens a .qs file read through any `Read + Seek` (its size is found by seeking to
    /// the end). Reads from the library's threads take turns on a mutex.
    pub fn from_reader<R: Read + Seek + Send + 'static>(mut reader: R, name: &str) -> Result<File> {
        let size = reader.seek(SeekFrom::End(0)).map_err(|e| Error::new(Status::Io, format!("{}: {}", name, e)))?;
        File::from_read_at(SeekReader(Mutex::new(reader)), size, name)
    }
}

type ReadFn = unsafe extern "C" fn(*mut c_void, u64, *mut c_void, usize) -> c_int;
type ReleaseFn = unsafe extern "C" fn(*mut c_void);

fn open_source(
    user: *mut c_void,
    size: u64,
    name: &CString,
    read: ReadFn,
    free: ReleaseFn,
    options: &OpenOptions,
) -> Result<File> {
    let source = sys::qs_source {
        struct_size: std::mem::size_of::<sys::qs_source>(),
        name: name.as_ptr(),
        size,
        user_data: user,
        read_at: Some(read),
        release: Some(free),
    };
    let opts = options.raw();
    let mut out: *mut sys::qs_file = ptr::null_mut();
    // Safety: the source struct is complete; user_data is a leaked Box<T> that the
    // library hands to `free` exactly once (on close, or here when the open fails).
    call(|e| unsafe { sys::qs_open_source_e(&source, &opts, &mut out, e) })?;
    File::from_raw(out, None)
}
