// The Rust binding's whole-model load (bench/bindings/run.sh):
//   qstore-load-all FILE.qs PASSES new|reuse|many
// After one untimed pass (none when PASSES is 0: then the open and one pass are timed,
// the first loads of a fresh process), each pass loads every tensor, high precision then low, and
// prints "high WALL CPU" and "low WALL CPU" (seconds), as load_all.c does with the C API. new: into
// owned vectors (File::load_high, File::load_low: typed codes and scales); reuse: into
// the same slices, made once for the largest tensor (load_high_into, load_level_into);
// many: all tensors in one call (load_high_many, load_low_many).
use std::time::Instant;

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// The process's CPU seconds, all threads (CLOCK_PROCESS_CPUTIME_ID, Linux).
fn cpu_seconds() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // Safety: a valid out pointer; clock 2 is CLOCK_PROCESS_CPUTIME_ID on Linux.
    unsafe { clock_gettime(2, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// Prints "WHAT WALL CPU": the seconds since (t0, cpu0).
fn report(what: &str, t0: Instant, cpu0: f64) {
    println!("{} {:.6} {:.6}", what, t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
}

struct Buffers {
    high: Vec<u8>,
    codes: Vec<u8>,
    scales: Vec<u8>,
}

fn buffers(f: &qstore::File) -> qstore::Result<Buffers> {
    let (mut high, mut codes, mut scales) = (1u64, 1u64, 1u64);
    for t in f.tensors() {
        let t = t?;
        high = high.max(t.high_bytes);
        codes = codes.max(t.low_code_bytes);
        scales = scales.max(t.low_scale_bytes);
    }
    let v = |n: u64| vec![0u8; n as usize];
    Ok(Buffers { high: v(high), codes: v(codes), scales: v(scales) })
}

fn pass(f: &qstore::File, high: bool, reuse: Option<&mut Buffers>) -> qstore::Result<()> {
    let mut reuse = reuse;
    for t in f.tensors() {
        let t = t?;
        match (high, reuse.as_deref_mut()) {
            (true, Some(b)) => f.load_high_into(t.index, &mut b.high[..t.high_bytes as usize])?,
            (false, Some(b)) => f.load_level_into(
                t.index,
                0,
                &mut b.codes[..t.low_code_bytes as usize],
                &mut b.scales[..t.low_scale_bytes as usize],
                &mut [],
            )?,
            (true, None) => {
                let _high: Vec<u8> = f.load_high(t.index)?;
            }
            (false, None) => {
                let _low: qstore::Level = f.load_low(t.index)?;
            }
        }
    }
    Ok(())
}

fn many(f: &qstore::File, high: bool) -> qstore::Result<()> {
    let all: Vec<usize> = (0..f.len()).collect();
    if high {
        let _high: Vec<Vec<u8>> = f.load_high_many(&all)?;
    } else {
        let _low: Vec<qstore::Level> = f.load_low_many(&all)?;
    }
    Ok(())
}

fn run(path: &str, passes: usize, mode: &str) -> qstore::Result<()> {
    let (t0, cpu0) = (Instant::now(), cpu_seconds());
    let f = qstore::File::open(path)?;
    if passes == 0 {
        report("open", t0, cpu0);
    }
    let mut b = if mode == "reuse" { Some(buffers(&f)?) } else { None };
    let mut one_pass = |high: bool| if mode == "many" { many(&f, high) } else { pass(&f, high, b.as_mut()) };
    if passes > 0 {
        one_pass(true)?;
        one_pass(false)?;
    }
    for _ in 0..passes.max(1) {
        for high in [true, false] {
            let (t0, cpu0) = (Instant::now(), cpu_seconds());
            one_pass(high)?;
            report(if high { "high" } else { "low" }, t0, cpu0);
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} FILE.qs PASSES new|reuse|many", args[0]);
        std::process::exit(2);
    }
    let passes: usize = args[2].parse().expect("PASSES");
    if let Err(e) = run(&args[1], passes, &args[3]) {
        eprintln!("qstore-load-all: {}", e);
        std::process::exit(1);
    }
}
