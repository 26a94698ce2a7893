// Opening from a read-at callback (File::from_read_at, File::from_reader): the same
// tensors as File::open, the source dropped exactly once (on drop of the File, or when the
// open fails), and a failing or panicking reader gives Err, never a crash.
mod common;

use common::test_dir;
use qstore::{File, ReadAt, Status};
use std::io::{self, Cursor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn same_tensors(a: &File, b: &File) {
    assert_eq!(a.len(), b.len());
    for i in 0..a.len() {
        assert_eq!(a.tensor(i).unwrap().name, b.tensor(i).unwrap().name);
        assert_eq!(a.load_high(i).unwrap(), b.load_high(i).unwrap(), "tensor {}", i);
        let (x, y) = (a.load_low(i).unwrap(), b.load_low(i).unwrap());
        assert_eq!(x.codes.as_bytes(), y.codes.as_bytes(), "tensor {}", i);
        assert_eq!(x.scales.as_bytes(), y.scales.as_bytes(), "tensor {}", i);
    }
}

// The bytes of a file; counts its reads and its drops; fails (or panics) from read
// number `fail_from` on.
struct Counted {
    bytes: Vec<u8>,
    reads: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
    fail_from: usize,
    panic: bool,
}

impl Counted {
    fn new(bytes: Vec<u8>, fail_from: usize, panic: bool) -> (Counted, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let c = Counted { bytes, reads: Arc::new(AtomicUsize::new(0)), drops: drops.clone(), fail_from, panic };
        (c, drops)
    }
}

impl ReadAt for Counted {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if self.reads.fetch_add(1, Ordering::SeqCst) >= self.fail_from {
            if self.panic {
                panic!("reader panics (the test wants this)");
            }
            return Err(io::Error::new(io::ErrorKind::Other, "reader fails"));
        }
        let start = offset as usize;
        buf.copy_from_slice(&self.bytes[start..start + buf.len()]);
        Ok(())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn read_at_and_reader_serve_the_same_tensors() {
    let dir = match test_dir() {
        Some(d) => d,
        None => return,
    };
    for name in ["model.qs", "real.qs", "model-raw.qs"] {
        let path = dir.join(name);
        let direct = File::open(&path).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let from_fs = File::from_read_at(std::fs::File::open(&path).unwrap(), size, name).unwrap();
        same_tensors(&direct, &from_fs);
        let from_reader = File::from_reader(Cursor::new(std::fs::read(&path).unwrap()), name).unwrap();
        same_tensors(&direct, &from_reader);
        // loads from several threads share the reader
        let shared = Arc::new(from_reader);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let f = shared.clone();
                std::thread::spawn(move || (0..f.len()).map(|i| f.load_high(i).unwrap()).collect::<Vec<_>>())
            })
            .collect();
        for t in threads {
            let loaded = t.join().unwrap();
            for (i, high) in loaded.iter().enumerate() {
                assert_eq!(high, &direct.load_high(i).unwrap());
            }
        }
        // no zero-copy view of a callback source
        assert_eq!(from_fs.view_low(0).err().unwrap().status(), Status::NotAvailable);
    }
}

#[test]
fn the_source_is_dropped_once() {
    let dir = match test_dir() {
        Some(d) => d,
        None => return,
    };
    let bytes = std::fs::read(dir.join("model.qs")).unwrap();
    let size = bytes.len() as u64;
    let (c, drops) = Counted::new(bytes.clone(), usize::MAX, false);
    let f = File::from_read_at(c, size, "model.qs").unwrap();
    f.load_high(0).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the source lives while the File does");
    drop(f);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // a failed open drops it too
    let (c, drops) = Counted::new(vec![0x5a; 4096], usize::MAX, false);
    assert_eq!(File::from_read_at(c, 4096, "garbage").err().unwrap().status(), Status::NotQstore);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let (c, drops) = Counted::new(bytes, usize::MAX, false);
    assert!(File::from_read_at(c, 100, "cut").is_err(), "100 bytes hold no index");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn failing_and_panicking_readers_give_errors() {
    let dir = match test_dir() {
        Some(d) => d,
        None => return,
    };
    let bytes = std::fs::read(dir.join("model.qs")).unwrap();
    let size = bytes.len() as u64;
    for panic in [false, true] {
        // fails at once: the open fails
        let (c, drops) = Counted::new(bytes.clone(), 0, panic);
        let e = File::from_read_at(c, size, "broken.qs").err().expect("open fails");
        assert_eq!(e.status(), Status::Io, "{}", e);
        assert!(e.message().contains("broken.qs"), "{}", e);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // fails after the open: every load fails, the File stays usable and drops cleanly
        let (c, drops) = Counted::new(bytes.clone(), 3, panic);
        let f = File::from_read_at(c, size, "later.qs").expect("open reads at most 3 times");
        for i in 0..f.len() {
            assert_eq!(f.load_high(i).err().expect("load fails").status(), Status::Io);
            assert_eq!(f.load_low(i).err().expect("load fails").status(), Status::Io);
        }
        assert!(f.tensor(0).is_ok());
        drop(f);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}

// Fails from its 4th read on, after a failing call of its own (on the same thread when
// the File decodes on the calling thread): the outer error must stay the outer call's.
struct Nested(Vec<u8>, AtomicUsize);

impl ReadAt for Nested {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let inner = File::open("/nonexistent/inner-missing.qs").err().expect("a missing file fails");
        assert!(inner.message().contains("inner-missing"), "{}", inner);
        if self.1.fetch_add(1, Ordering::SeqCst) >= 3 {
            return Err(io::Error::new(io::ErrorKind::Other, "reader fails"));
        }
        let start = offset as usize;
        buf.copy_from_slice(&self.0[start..start + buf.len()]);
        Ok(())
    }
}

#[test]
fn calls_inside_a_reader_keep_their_own_errors() {
    let dir = match test_dir() {
        Some(d) => d,
        None => return,
    };
    let bytes = std::fs::read(dir.join("model.qs")).unwrap();
    let size = bytes.len() as u64;
    let options = qstore::OpenOptions { num_threads: 1, ..Default::default() };
    let f = File::from_read_at_with(Nested(bytes, AtomicUsize::new(0)), size, "outer.qs", &options).unwrap();
    for i in 0..f.len() {
        let e = f.load_high(i).err().expect("the load fails");
        assert_eq!(e.status(), Status::Io, "{}", e);
        assert!(e.message().contains("outer.qs") && !e.message().contains("inner-missing"), "{}", e);
    }
}
