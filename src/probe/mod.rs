//! The node probe: an MCP server on every node that reads and sets CPU governors, frequency
//! limits and EPP through the kernel's cpufreq files, and reads RAPL power and `/proc/stat`
//! utilization (`docs/probe.md`).

pub mod discover;
pub mod fake;
pub mod metrics;
pub mod phi;
pub mod router;
pub mod server;
pub mod sysfs;
