// The error of every fallible call: the C status and the message of that call, taken
// from a qs_error owned by the call (never the thread-local qs_last_error_message, which
// another call on the same thread could overwrite).
use qstore_sys as sys;
use std::cell::Cell;
use std::ffi::CStr;
use std::fmt;
use std::ptr;

/// What went wrong, one value per C `qs_status` (`Other` for a status newer than this crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    InvalidArgument,
    Io,
    NotQstore,
    Unsupported,
    Corrupt,
    Truncated,
    NotFound,
    BufferTooSmall,
    OutOfMemory,
    NotAvailable,
    Internal,
    Other(u32),
}

impl Status {
    pub(crate) fn from_raw(s: sys::qs_status) -> Status {
        match s {
            sys::QS_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::QS_ERR_IO => Status::Io,
            sys::QS_ERR_NOT_QSTORE => Status::NotQstore,
            sys::QS_ERR_UNSUPPORTED => Status::Unsupported,
            sys::QS_ERR_CORRUPT => Status::Corrupt,
            sys::QS_ERR_TRUNCATED => Status::Truncated,
            sys::QS_ERR_NOT_FOUND => Status::NotFound,
            sys::QS_ERR_BUFFER_TOO_SMALL => Status::BufferTooSmall,
            sys::QS_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::QS_ERR_NOT_AVAILABLE => Status::NotAvailable,
            sys::QS_ERR_INTERNAL => Status::Internal,
            other => Status::Other(other),
        }
    }

    /// The C status number.
    pub fn raw(self) -> u32 {
        match self {
            Status::InvalidArgument => sys::QS_ERR_INVALID_ARGUMENT,
            Status::Io => sys::QS_ERR_IO,
            Status::NotQstore => sys::QS_ERR_NOT_QSTORE,
            Status::Unsupported => sys::QS_ERR_UNSUPPORTED,
            Status::Corrupt => sys::QS_ERR_CORRUPT,
            Status::Truncated => sys::QS_ERR_TRUNCATED,
            Status::NotFound => sys::QS_ERR_NOT_FOUND,
            Status::BufferTooSmall => sys::QS_ERR_BUFFER_TOO_SMALL,
            Status::OutOfMemory => sys::QS_ERR_OUT_OF_MEMORY,
            Status::NotAvailable => sys::QS_ERR_NOT_AVAILABLE,
            Status::Internal => sys::QS_ERR_INTERNAL,
            Status::Other(n) => n,
        }
    }
}

/// A failed call: its status and its message (which names the file and the tensor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            // Safety: qs_status_string never returns NULL and its strings live forever.
            let s = unsafe { CStr::from_ptr(sys::qs_status_string(self.status.raw())) };
            write!(f, "{}", s.to_string_lossy())
        } else {
            write!(f, "{}", self.message)
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// A qs_error for one call.
pub(crate) struct CallError {
    raw: *mut sys::qs_error,
}

/// Each thread keeps one spare qs_error for its next call, so that a call costs no
/// allocation. A call takes it out of the slot for its duration: a nested call on the
/// same thread (a ReadAt callback using another File) finds the slot empty and makes
/// its own.
struct Spare(Cell<*mut sys::qs_error>);

impl Drop for Spare {
    fn drop(&mut self) {
        let raw = self.0.get();
        if !raw.is_null() {
            // Safety: the thread's spare, freed once as the thread ends.
            unsafe { sys::qs_error_free(raw) }
        }
    }
}

thread_local! {
    static SPARE: Spare = const { Spare(Cell::new(ptr::null_mut())) };
}

impl CallError {
    pub(crate) fn new() -> Result<CallError> {
        let mut raw = SPARE.try_with(|s| s.0.replace(ptr::null_mut())).unwrap_or(ptr::null_mut());
        if raw.is_null() {
            // Safety: no arguments; NULL only when out of memory.
            raw = unsafe { sys::qs_error_new() };
        }
        if raw.is_null() {
            return Err(Error::new(Status::OutOfMemory, "out of memory"));
        }
        Ok(CallError { raw })
    }

    pub(crate) fn ptr(&self) -> *mut sys::qs_error {
        self.raw
    }

    /// Ok, or the Error the call recorded in this qs_error.
    pub(crate) fn check(&self, status: sys::qs_status) -> Result<()> {
        if status == sys::QS_OK {
            return Ok(());
        }
        // Safety: raw is a live qs_error; the message is copied before it is reused.
        let message = unsafe { CStr::from_ptr(sys::qs_error_message(self.raw)) };
        Err(Error::new(Status::from_raw(status), message.to_string_lossy().into_owned()))
    }
}

impl Drop for CallError {
    fn drop(&mut self) {
        let raw = self.raw;
        let kept = SPARE
            .try_with(|s| {
                let empty = s.0.get().is_null();
                if empty {
                    s.0.set(raw);
                }
                empty
            })
            .unwrap_or(false);
        if !kept {
            // Safety: raw came from qs_error_new, is in no slot, and is freed once.
            unsafe { sys::qs_error_free(raw) }
        }
    }
}

/// Runs `f` with a fresh qs_error and turns its status into a Result.
pub(crate) fn call<F: FnOnce(*mut sys::qs_error) -> sys::qs_status>(f: F) -> Result<()> {
    let err = CallError::new()?;
    let status = f(err.ptr());
    err.check(status)
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArgument, message)
}
