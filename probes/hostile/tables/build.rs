//! Places the function table 9 million slots in (`--table-base`), so that the
//! component's table needs 9 million slots from its first instant: at 8 bytes
//! a slot, 72 MB that the host must count against the probe's memory limit.

fn main() {
    if std::env::var("TARGET").is_ok_and(|t| t.starts_with("wasm32")) {
        println!("cargo:rustc-link-arg=--table-base=9000000");
    }
}
