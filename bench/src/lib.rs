//! Benchmarks of the catalog: the suite's pieces (`bench-suite`, run by
//! `bench/run.sh`) and what the single-purpose benchmark binaries share.

pub mod freshness;
pub mod load;
pub mod machine;
pub mod procs;
pub mod queries;
pub mod reference;
pub mod report;
pub mod synthetic;
