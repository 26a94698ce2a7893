// Finds libqstore for linking: QSTORE_LIB_DIR (a folder holding libqstore.so, e.g. a
// build tree) if set, else the pkg-config binary (`pkg-config --libs qstore`; set
// PKG_CONFIG_PATH for a prefix other than /usr or /usr/local). The header's folder
// (QSTORE_INCLUDE_DIR, else pkg-config's -I, else this repository's include/) is passed
// to the layout test, which compiles a C program against it.
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config(args: &[&str]) -> Option<String> {
    let out = Command::new("pkg-config").args(args).arg("qstore").output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn link_from_pkg_config() -> bool {
    let libs = match pkg_config(&["--libs"]) {
        Some(libs) => libs,
        None => return false,
    };
    for flag in libs.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
            println!("cargo:lib_dir={}", dir);
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={}", lib);
        }
    }
    true
}

fn include_dir() -> PathBuf {
    if let Ok(dir) = env::var("QSTORE_INCLUDE_DIR") {
        return PathBuf::from(dir);
    }
    if env::var("QSTORE_LIB_DIR").is_err() {
        if let Some(cflags) = pkg_config(&["--cflags"]) {
            if let Some(dir) = cflags.split_whitespace().find_map(|f| f.strip_prefix("-I")) {
                return PathBuf::from(dir);
            }
        }
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    manifest.join("../../../include")
}

fn main() {
    println!("cargo:rerun-if-env-changed=QSTORE_LIB_DIR");
    println!("cargo:rerun-if-env-changed=QSTORE_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    if let Ok(dir) = env::var("QSTORE_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir);
        println!("cargo:rustc-link-lib=qstore");
        println!("cargo:lib_dir={}", dir);
    } else if !link_from_pkg_config() {
        panic!(
            "libqstore not found: set QSTORE_LIB_DIR to the folder of libqstore.so, or install \
             qstore and make `pkg-config --libs qstore` work (PKG_CONFIG_PATH=<prefix>/lib/pkgconfig)"
        );
    }
    println!("cargo:rustc-env=QSTORE_SYS_INCLUDE_DIR={}", include_dir().display());
}
