//! Safe Rust API of libqstore: one file, two (or more) precisions of a neural network,
//! losslessly. Open a `.qs` file with [`File::open`] (or [`File::from_memory`]), iterate
//! its tensors, load the high precision bit-exact with [`File::load_high`] and the low
//! precision with typed codes and scales with [`File::load_low`]; write one with
//! [`Writer`]. Every fallible call returns [`Error`] with the C status and the message
//! of that call.
//!
//! ```no_run
//! let f = qstore::File::open("model.qs")?;
//! for t in f.tensors() {
//!     let t = t?;
//!     let high: Vec<u8> = f.load_high(t.index)?; // bit-exact, t.dtype
//!     let low = f.load_low(t.index)?;            // e.g. Codes::I8 + Scales::F32
//!     println!("{} {:?} {:?} {} {:?}", t.name, t.dtype, t.shape, high.len(), low.info.scheme);
//! }
//! # Ok::<(), qstore::Error>(())
//! ```
mod error;
mod file;
mod level;
mod metadata;
mod source;
mod types;
mod writer;

pub use error::{Error, Result, Status};
pub use file::{File, OpenOptions, Tensors};
pub use level::{Codes, Level, Scales};
pub use metadata::{Entry as MetadataEntry, Value};
pub use source::ReadAt;
pub use types::{Dtype, LevelInfo, Scheme, TensorInfo};
pub use writer::{GivenLow, Writer, WriterOptions};

/// The version of the linked libqstore, e.g. "1.5.0".
pub fn version() -> String {
    // Safety: a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(qstore_sys::qs_version_string()) }.to_string_lossy().into_owned()
}
