//! Rebuilds the crate when a migration is added or changed: the migrations
//! are embedded at compile time (`schema.rs`), which cargo cannot see.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
