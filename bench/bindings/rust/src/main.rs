// The Rust binding's whole-model load (bench/bindings/run.sh): qstore-load-all FILE.qs
// PASSES. After one untimed pass, each pass loads every tensor into an owned vector
// (File::load_high, then File::load_low: typed codes and scales) and prints
// "high SECONDS" and "low SECONDS", as load_all.c does with the C API.
use std::time::Instant;

fn pass(f: &qstore::File, high: bool) -> qstore::Result<()> {
    for t in f.tensors() {
        let t = t?;
        if high {
            let _high: Vec<u8> = f.load_high(t.index)?;
        } else {
            let _low: qstore::Level = f.load_low(t.index)?;
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: {} FILE.qs PASSES", args[0]);
        std::process::exit(2);
    }
    let passes: usize = args[2].parse().expect("PASSES");
    let run = || -> qstore::Result<()> {
        let f = qstore::File::open(&args[1])?;
        pass(&f, true)?;
        pass(&f, false)?;
        for _ in 0..passes {
            for high in [true, false] {
                let t0 = Instant::now();
                pass(&f, high)?;
                println!("{} {:.6}", if high { "high" } else { "low" }, t0.elapsed().as_secs_f64());
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("qstore-load-all: {}", e);
        std::process::exit(1);
    }
}
