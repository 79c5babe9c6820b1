//! Benchmarks of the catalog: shared pieces of the benchmark binaries.

pub mod load;
pub mod synthetic;
