// Misuse and bad input give Err with the status and the message of that call, never a
// panic or a crash: missing, corrupt, truncated and non-qstore files, wrong buffer sizes,
// unknown names, indices and levels, bad writer options; and each thread's error is its
// own.
mod common;

use common::test_dir;
use qstore::{Dtype, File, Status, Writer, WriterOptions};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qstore-rust-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn missing_file() {
    let path = scratch("does-not-exist.qs");
    let e = File::open(&path).err().expect("opening a missing file fails");
    assert_eq!(e.status(), Status::Io);
    assert!(e.message().contains("does-not-exist.qs"), "{}", e);
    assert_eq!(e.to_string(), e.message());
}

#[test]
fn not_a_qstore_file_from_path_and_memory() {
    let path = scratch("garbage.qs");
    std::fs::write(&path, vec![0x5au8; 4096]).unwrap();
    let e = File::open(&path).err().unwrap();
    assert_eq!(e.status(), Status::NotQstore, "{}", e);
    assert!(!e.message().is_empty());
    let e = File::from_memory(vec![0x5au8; 4096]).err().unwrap();
    assert_eq!(e.status(), Status::NotQstore, "{}", e);
    let e = File::from_memory(Vec::new()).err().unwrap();
    assert!(e.status() == Status::NotQstore || e.status() == Status::Truncated, "{}", e);
}

#[test]
fn corrupt_and_truncated_files() {
    let dir = match test_dir() {
        Some(d) => d,
        None => return,
    };
    let good = std::fs::read(dir.join("model.qs")).unwrap();
    // Cut inside the header, the index, and the data: an error at open or at the load.
    for &cut in &[20usize, 100, good.len() / 2, good.len() - 1] {
        let r = File::from_memory(good[..cut].to_vec()).and_then(|f| {
            for i in 0..f.len() {
                f.load_high(i)?;
            }
            Ok(())
        });
        let e = r.err().unwrap_or_else(|| panic!("cut at {} loaded", cut));
        assert!(!e.message().is_empty(), "cut at {}: {:?}", cut, e);
    }
    // One flipped byte in each of many places: the exact bytes or an Err, never a crash.
    let mut errors = 0;
    for pos in (0..good.len()).step_by(97) {
        let mut bad = good.clone();
        bad[pos] ^= 0xff;
        let r = File::from_memory(bad).and_then(|f| f.verify());
        if let Err(e) = r {
            errors += 1;
            assert!(!e.message().is_empty(), "flip at {}: {:?}", pos, e);
        }
    }
    assert!(errors > 0, "no flipped byte was detected");
}

#[test]
fn wrong_buffer_size_and_bad_arguments() {
    let dir = match test_dir() {
        Some(d) => d,
        None => return,
    };
    let f = File::open(dir.join("model.qs")).unwrap();
    let t = f.tensors().map(|t| t.unwrap()).find(|t| t.num_levels == 2).unwrap();
    let mut small = vec![0u8; t.high_bytes as usize - 1];
    let e = f.load_high_into(t.index, &mut small).err().unwrap();
    assert_eq!(e.status(), Status::BufferTooSmall);
    assert!(e.message().contains(&t.name), "{}", e);
    assert!(small.iter().all(|&b| b == 0), "nothing is written on failure");
    let e = f.load_level_into(t.index, 0, &mut [], &mut [], &mut []).err().unwrap();
    assert_eq!(e.status(), Status::BufferTooSmall, "{}", e);
    let e = f.find("no.such.tensor").err().unwrap();
    assert_eq!(e.status(), Status::NotFound);
    assert!(e.message().contains("no.such.tensor"), "{}", e);
    assert_eq!(f.tensor(f.len()).err().unwrap().status(), Status::InvalidArgument);
    assert_eq!(f.load_high(f.len()).err().unwrap().status(), Status::InvalidArgument);
    assert_eq!(f.load_level(t.index, 7).err().unwrap().status(), Status::InvalidArgument);
    assert_eq!(f.find("nul\0inside").err().unwrap().status(), Status::InvalidArgument);
    let e = f.view_low(t.index).err().unwrap();
    assert_eq!(e.status(), Status::NotAvailable, "coded low codes have no view: {}", e);
}

#[test]
fn writer_refuses_bad_options_and_input() {
    let path = scratch("w.qs");
    let mut o = WriterOptions::default();
    o.low_schemes = Some("no-such-scheme".to_string());
    let e = Writer::create(&path, &o).err().unwrap();
    assert_eq!(e.status(), Status::InvalidArgument);
    assert!(e.message().contains("no-such-scheme"), "{}", e);
    let e = Writer::create(std::env::temp_dir(), &WriterOptions::default()).err().unwrap();
    assert!(!e.message().is_empty());
    let mut w = Writer::create(&path, &WriterOptions::default()).unwrap();
    let e = w.add_tensor("t", Dtype::F32, &[2, 2], &[0u8; 15]).err().unwrap();
    assert_eq!(e.status(), Status::InvalidArgument, "{}", e);
    drop(w);
    assert!(!path.exists());
}

#[test]
fn each_thread_gets_its_own_message() {
    let threads: Vec<_> = (0..16)
        .map(|k| {
            std::thread::spawn(move || {
                for i in 0..500 {
                    let name = format!("missing-{}-{}.qs", k, i);
                    let e = File::open(scratch(&name)).err().unwrap();
                    assert!(e.message().contains(&name), "thread {} got {:?}", k, e.message());
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
