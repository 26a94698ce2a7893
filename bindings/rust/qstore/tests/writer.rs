// The Writer: a model written tensor by tensor is the file `qstore pack` writes, byte for
// byte; every scheme's level comes back typed; given low codes are kept; a chain has its
// levels; dropping an unfinished writer leaves nothing behind.
mod common;

use common::{test_dir, Safetensors};
use qstore::{Codes, Dtype, File, GivenLow, Scales, Scheme, Writer, WriterOptions};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qstore-rust-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write_model(st: &Safetensors, path: &std::path::Path, options: &WriterOptions) {
    let mut w = Writer::create(path, options).unwrap();
    for (k, v) in &st.metadata {
        w.set_metadata(k, v).unwrap();
    }
    for t in &st.tensors {
        let dtype = Dtype::from_name(&t.dtype).unwrap();
        w.add_tensor(&t.name, dtype, &t.shape, st.bytes(t)).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn writer_writes_what_pack_writes() {
    let dir = match test_dir() {
        Some(d) => d,
        None => return,
    };
    for case in ["model", "real"] {
        let st = Safetensors::read(&dir.join(format!("{}.safetensors", case)));
        let out = scratch(&format!("{}.qs", case));
        write_model(&st, &out, &WriterOptions::default());
        let ours = std::fs::read(&out).unwrap();
        let packed = std::fs::read(dir.join(format!("{}.qs", case))).unwrap();
        assert!(ours == packed, "{}: the Writer's file differs from qstore pack's", case);
        let f = File::open(&out).unwrap();
        for t in &st.tensors {
            assert!(f.load_high(f.find(&t.name).unwrap()).unwrap() == st.bytes(t), "{}", t.name);
        }
    }
}

// A [rows, cols] F32 tensor of varied values (deterministic).
fn f32_tensor(rows: usize, cols: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    let mut out = Vec::with_capacity(rows * cols * 4);
    for _ in 0..rows * cols {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let v = (x % 20001) as f32 / 1000.0 - 10.0;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn one_tensor_file(schemes: &str, name: &str) -> (File, Vec<u8>) {
    let data = f32_tensor(64, 128, 3);
    let path = scratch(name);
    let mut o = WriterOptions::default();
    o.low_schemes = Some(schemes.to_string());
    let mut w = Writer::create(&path, &o).unwrap();
    w.add_tensor("layer.weight", Dtype::F32, &[64, 128], &data).unwrap();
    w.finish().unwrap();
    (File::open(&path).unwrap(), data)
}

#[test]
fn every_scheme_comes_back_typed() {
    let cases: [(&str, Scheme); 8] = [
        ("int8-row", Scheme::Int8Row),
        ("int8-tensor", Scheme::Int8Tensor),
        ("fp8-e4m3-row", Scheme::Fp8E4M3Row),
        ("fp8-e5m2-tensor", Scheme::Fp8E5M2Tensor),
        ("q8_0", Scheme::Q8_0),
        ("q4_0", Scheme::Q4_0),
        ("int4-asym-group:32", Scheme::Int4AsymGroup),
        ("uint8-asym-tensor", Scheme::Uint8AsymTensor),
    ];
    for (k, (spec, scheme)) in cases.iter().enumerate() {
        let (f, data) = one_tensor_file(spec, &format!("scheme{}.qs", k));
        let t = f.tensor(0).unwrap();
        assert_eq!(t.low_scheme, *scheme, "{}", spec);
        assert!(f.load_high(0).unwrap() == data, "{}: high", spec);
        let l = f.load_low(0).unwrap();
        assert!(f.load_low_many(&[0, 0]).unwrap() == vec![l.clone(), l.clone()], "{}: batched low", spec);
        assert_eq!(l.codes.as_bytes().len() as u64, t.low_code_bytes, "{}", spec);
        assert_eq!(l.scales.as_bytes().len() as u64, t.low_scale_bytes, "{}", spec);
        assert_eq!(l.zero_points.len() as u64, t.low_zero_point_bytes, "{}", spec);
        let typed = match (&l.codes, &l.scales) {
            (Codes::I8(c), Scales::F32(s)) => c.len() == 64 * 128 && !s.is_empty(),
            (Codes::Fp8E4M3(c), Scales::F32(_)) | (Codes::Fp8E5M2(c), Scales::F32(_)) => c.len() == 64 * 128,
            (Codes::GgmlBlocks(c), Scales::None) => c.len() == 64 * (128 / 32) * if *scheme == Scheme::Q8_0 { 34 } else { 18 },
            (Codes::Int4Packed(c), Scales::F16(s)) => c.len() == 64 * 128 / 8 && s.len() == 64 * 4 && l.zero_points.len() == 64 * 4,
            (Codes::U8(c), Scales::F32(s)) => c.len() == 64 * 128 && s.len() == 1 && l.zero_points.len() == 1,
            _ => false,
        };
        assert!(typed, "{}: {:?} / {:?}", spec, std::mem::discriminant(&l.codes), l.scales.as_bytes().len());
    }
}

#[test]
fn a_chain_has_every_level() {
    let (f, data) = one_tensor_file("int8-row,q4_0", "chain.qs");
    let t = f.tensor(0).unwrap();
    assert_eq!(t.num_levels, 3);
    assert!(matches!(f.load_level(0, 0).unwrap().codes, Codes::GgmlBlocks(_)));
    assert!(matches!(f.load_level(0, 1).unwrap().codes, Codes::I8(_)));
    assert!(f.load_level(0, 2).unwrap().codes == Codes::Raw(data));
    assert!(f.level_prefix_bytes(0).unwrap() < f.level_prefix_bytes(1).unwrap());
}

#[test]
fn given_low_codes_are_kept() {
    let (f, data) = one_tensor_file("int8-row", "given-source.qs");
    let mut low = f.load_low(0).unwrap();
    if let Codes::I8(c) = &mut low.codes {
        for v in c.iter_mut().step_by(7) {
            *v = v.saturating_add(1);
        }
    }
    let path = scratch("given.qs");
    let mut w = Writer::create(&path, &WriterOptions::default()).unwrap();
    let given = GivenLow {
        scheme: Scheme::Int8Row,
        group_size: 0,
        codes: low.codes.as_bytes(),
        scales: low.scales.as_bytes(),
        zero_points: &[],
    };
    w.add_tensor_with_low("layer.weight", Dtype::F32, &[64, 128], &data, &given).unwrap();
    w.finish().unwrap();
    let g = File::open(&path).unwrap();
    assert!(g.load_low(0).unwrap() == low);
    assert!(g.load_high(0).unwrap() == data);
}

#[test]
fn dropping_an_unfinished_writer_leaves_nothing() {
    let path = scratch("aborted.qs");
    std::fs::write(&path, b"old contents").unwrap();
    let mut w = Writer::create(&path, &WriterOptions::default()).unwrap();
    w.add_tensor("a.weight", Dtype::F32, &[64, 128], &f32_tensor(64, 128, 9)).unwrap();
    drop(w);
    assert_eq!(std::fs::read(&path).unwrap(), b"old contents");
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("aborted.qs") && n != "aborted.qs")
        .collect();
    assert!(names.is_empty(), "temporaries left: {:?}", names);
}
