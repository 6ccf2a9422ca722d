//! Rebuilds the crate when a migration is added, changed or removed: `sqlx::migrate!` embeds the
//! files of `migrations/` at compile time, and cargo would otherwise keep an embedding that misses a
//! new file (the build script sqlx's docs prescribe).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
