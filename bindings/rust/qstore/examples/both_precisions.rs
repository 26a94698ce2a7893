// README.md's example (built by cargo test): both precisions of every tensor.
//   cargo run --example both_precisions -- model.qs
fn main() -> qstore::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "model.qs".to_string());
    let f = qstore::File::open(path)?; // or File::from_memory(bytes)
    for t in f.tensors() {
        let t = t?; // t.name, t.dtype, t.shape
        let high: Vec<u8> = f.load_high(t.index)?; // bit-exact, t.dtype's bytes
        let low = f.load_low(t.index)?; // typed by scheme:
        if let (qstore::Codes::I8(codes), qstore::Scales::F32(scales)) = (&low.codes, &low.scales) {
            println!("{}: {} codes, {} scales, {} high bytes", t.name, codes.len(), scales.len(), high.len());
        }
    }
    Ok(())
}
