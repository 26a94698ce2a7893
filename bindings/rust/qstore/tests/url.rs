// File::open_url: nginx on localhost (started by tests/bindings/run_rust.sh, URL in
// QSTORE_TEST_URL) serves the prepared files; every tensor of the generated model loads
// the same high and low precision over the URL as from the local file, and a missing
// file (404) is an I/O error naming the URL.
mod common;

use common::test_dir;
use qstore::File;

fn test_url() -> Option<String> {
    match std::env::var("QSTORE_TEST_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(std::env::var("QSTORE_TEST_REQUIRE").is_err(), "QSTORE_TEST_URL is not set");
            eprintln!("SKIPPED: QSTORE_TEST_URL is not set (tests/bindings/run_rust.sh sets it)");
            None
        }
    }
}

#[test]
fn url_loads_equal_local_loads_and_404_names_the_url() {
    let (dir, url) = match (test_dir(), test_url()) {
        (Some(dir), Some(url)) => (dir, url),
        _ => return,
    };
    let local = File::open(dir.join("model.qs")).unwrap();
    let remote = File::open_url(&format!("{}model.qs", url)).unwrap();
    assert_eq!(remote.len(), local.len());
    for i in 0..local.len() {
        assert!(remote.load_high(i).unwrap() == local.load_high(i).unwrap(), "tensor {} high", i);
        assert!(remote.load_low(i).unwrap() == local.load_low(i).unwrap(), "tensor {} low", i);
    }
    let missing = format!("{}absent.qs", url);
    let e = File::open_url(&missing).err().expect("a missing URL opened");
    assert_eq!(e.status(), qstore::Status::Io, "{}", e);
    assert!(e.message().contains(&missing), "{}", e);
}
