// Every tensor of a generated model and of a real shared model, packed by the CLI
// (coded and --low-raw): the high precision equals the original safetensors bytes, the
// low precision equals what `qstore unpack --precision low` wrote (bitsandbytes layout:
// codes under the tensor's name, scales under X.SCB), from a path and from memory.
mod common;

use common::{test_dir, Safetensors};
use qstore::{Codes, Dtype, File, Scales, Scheme};
use std::path::Path;

// X.SCB for X.weight, NAME.SCB otherwise (docs/CLI.md, int8-row).
fn scales_name(name: &str) -> String {
    format!("{}.SCB", name.strip_suffix(".weight").unwrap_or(name))
}

fn check_file(f: &File, original: &Safetensors, low: &Safetensors, what: &str) -> usize {
    assert_eq!(f.len(), original.tensors.len(), "{}: tensor count", what);
    let mut quantized = 0;
    for t in f.tensors() {
        let t = t.unwrap();
        let st = original.get(&t.name).unwrap_or_else(|| panic!("{}: {} not in the original", what, t.name));
        assert_eq!(t.dtype.name(), st.dtype, "{}: {} dtype", what, t.name);
        assert_eq!(Dtype::from_name(&st.dtype), Some(t.dtype));
        assert_eq!(t.shape, st.shape, "{}: {} shape", what, t.name);
        let high = f.load_high(t.index).unwrap();
        assert!(high == original.bytes(st), "{}: {}: high bytes differ", what, t.name);
        let mut into = vec![0u8; high.len()];
        f.load_high_into(t.index, &mut into).unwrap();
        assert!(into == high, "{}: {}: load_high_into differs", what, t.name);

        let l = f.load_low(t.index).unwrap();
        let codes = low.get(&t.name).unwrap_or_else(|| panic!("{}: {} not in the low file", what, t.name));
        assert!(l.codes.as_bytes() == low.bytes(codes), "{}: {}: low codes differ", what, t.name);
        match t.low_scheme {
            Scheme::Passthrough => {
                assert!(matches!(l.codes, Codes::Raw(_)) && l.scales == Scales::None);
                assert!(l.codes.as_bytes() == original.bytes(st), "{}: {}: passthrough low", what, t.name);
            }
            Scheme::Int8Row => {
                quantized += 1;
                assert!(matches!(l.codes, Codes::I8(_)), "{}: {}: int8 codes typed i8", what, t.name);
                let sc = low.get(&scales_name(&t.name)).expect("scales in the low file");
                match &l.scales {
                    Scales::F32(v) => assert_eq!(v.len() as u64, t.shape[0]),
                    other => panic!("{}: {}: scales {:?}", what, t.name, other),
                }
                assert!(l.scales.as_bytes() == low.bytes(sc), "{}: {}: scales differ", what, t.name);
            }
            other => panic!("{}: {}: unexpected scheme {:?}", what, t.name, other),
        }
        let top = f.load_level(t.index, t.num_levels - 1).unwrap();
        assert!(top.codes.as_bytes() == &high[..], "{}: {}: top level != high", what, t.name);
    }
    quantized
}

fn check_case(dir: &Path, case: &str) {
    let original = Safetensors::read(&dir.join(format!("{}.safetensors", case)));
    let low = Safetensors::read(&dir.join(format!("{}-low.safetensors", case)));
    for qs in [format!("{}.qs", case), format!("{}-raw.qs", case)] {
        let path = dir.join(&qs);
        let f = File::open(&path).unwrap();
        let quantized = check_file(&f, &original, &low, &qs);
        assert!(quantized > 0, "{}: no quantized tensor", qs);
        let meta: Vec<(String, String)> = f
            .metadata()
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value.as_str().expect("string metadata").to_string()))
            .collect();
        assert_eq!(meta, original.metadata, "{}: metadata", qs);
        f.verify().unwrap();
        let m = File::from_memory(std::fs::read(&path).unwrap()).unwrap();
        check_file(&m, &original, &low, &format!("{} (memory)", qs));
        assert_eq!(m.level_prefix_bytes(m.level_count() - 1).unwrap(), std::fs::metadata(&path).unwrap().len());
        assert!(m.level_prefix_bytes(0).unwrap() < std::fs::metadata(&path).unwrap().len());
    }
}

#[test]
fn generated_model_loads_both_precisions() {
    if let Some(dir) = test_dir() {
        check_case(&dir, "model");
    }
}

#[test]
fn real_model_loads_both_precisions() {
    if let Some(dir) = test_dir() {
        check_case(&dir, "real");
    }
}

#[test]
fn raw_low_codes_can_be_viewed_without_copy() {
    if let Some(dir) = test_dir() {
        let f = File::open(dir.join("model-raw.qs")).unwrap();
        for t in f.tensors() {
            let t = t.unwrap();
            let (codes, scales) = f.view_low(t.index).unwrap();
            let l = f.load_low(t.index).unwrap();
            assert!(codes == l.codes.as_bytes() && scales == l.scales.as_bytes(), "{}", t.name);
        }
    }
}

#[test]
fn metadata_lookup_by_key() {
    if let Some(dir) = test_dir() {
        let original = Safetensors::read(&dir.join("model.safetensors"));
        let f = File::open(dir.join("model.qs")).unwrap();
        assert!(!original.metadata.is_empty());
        for (k, v) in &original.metadata {
            assert_eq!(f.metadata_value(k).unwrap().unwrap().as_str(), Some(v.as_str()));
        }
        assert_eq!(f.metadata_value("no such key").unwrap(), None);
    }
}

#[test]
fn a_different_original_is_told_apart() {
    if let Some(dir) = test_dir() {
        let other = Safetensors::read(&dir.join("other.safetensors"));
        let low = Safetensors::read(&dir.join("model-low.safetensors"));
        let f = File::open(dir.join("model.qs")).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_file(&f, &other, &low, "other")));
        assert!(r.is_err(), "the check accepted a model with other values");
    }
}

#[test]
fn batched_loads_equal_single_loads() {
    if let Some(dir) = test_dir() {
        for qs in ["model.qs", "real.qs", "real-raw.qs"] {
            let f = File::open(dir.join(qs)).unwrap();
            let all: Vec<usize> = (0..f.len()).rev().collect();
            let highs = f.load_high_many(&all).unwrap();
            let lows = f.load_low_many(&all).unwrap();
            for (k, &i) in all.iter().enumerate() {
                assert!(highs[k] == f.load_high(i).unwrap(), "{}: tensor {} high", qs, i);
                assert!(lows[k] == f.load_low(i).unwrap(), "{}: tensor {} low", qs, i);
            }
            let e = f.load_high_many(&[0, f.len()]).err().unwrap();
            assert_eq!(e.status(), qstore::Status::InvalidArgument, "{}", e);
        }
    }
}

#[test]
fn row_ranges_are_slices_of_the_whole() {
    if let Some(dir) = test_dir() {
        for qs in ["model.qs", "real.qs"] {
            let f = File::open(dir.join(qs)).unwrap();
            for t in f.tensors() {
                let t = t.unwrap();
                if t.shape.is_empty() || t.shape[0] < 2 {
                    continue;
                }
                let rows = t.shape[0];
                let high = f.load_high(t.index).unwrap();
                let row_bytes = (t.high_bytes / rows) as usize;
                let (first, count) = (rows / 3, rows - rows / 3 - 1);
                let part = f.load_high_rows(t.index, first, count).unwrap();
                let want = &high[first as usize * row_bytes..(first + count) as usize * row_bytes];
                assert!(part == want, "{}: {}: high rows", qs, t.name);
                if t.low_scheme == Scheme::Int8Row {
                    let low = f.load_low(t.index).unwrap();
                    let l = f.load_level_rows(t.index, 0, first, count).unwrap();
                    let cols = (t.num_elements / rows) as usize;
                    let codes = &low.codes.as_bytes()[first as usize * cols..(first + count) as usize * cols];
                    let scales = &low.scales.as_bytes()[first as usize * 4..(first + count) as usize * 4];
                    assert!(l.codes.as_bytes() == codes && l.scales.as_bytes() == scales, "{}: {}: low rows", qs, t.name);
                }
                let e = f.load_high_rows(t.index, rows, 1).err().unwrap();
                assert_eq!(e.status(), qstore::Status::InvalidArgument, "{}", e);
            }
        }
    }
}
