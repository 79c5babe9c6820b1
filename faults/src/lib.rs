//! The fault suite: the catalog's components as processes, on NATS and
//! PostgreSQL servers of the suite's own (behind TCP proxies), under the
//! faults of `docs/faults.md` — kills, server restarts, network pauses and
//! cuts, a backlog — each scenario ending with the read model compared to
//! a clean replay of the stream, row for row.

pub mod cluster;
pub mod proxy;
pub mod report;
pub mod scenarios;
pub mod servers;
