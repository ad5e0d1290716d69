//! The node's cpufreq, RAPL and `/proc/stat` files, read and written with the kernel's rules.
//!
//! The kernel enforces its rules when a real sysfs file is written; a sysfs-shaped tree in a
//! directory (tests, demos) cannot. So the probe checks them itself before writing, with the
//! errors the kernel would give: an unknown governor or EPP is EINVAL, an EPP other than
//! `performance` under the `performance` governor is EBUSY, frequencies are clamped to the
//! cpuinfo limits (and `scaling_min_freq` to `scaling_max_freq`). Errors the file system gives
//! (permission denied, read-only) name the file.

use std::fs;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the probe reads: the roots of sysfs and procfs (`/sys`, `/proc` on a node).
#[derive(Clone, Debug)]
pub struct Roots {
    pub sys: PathBuf,
    pub proc: PathBuf,
}

/// An error of a probe operation, with the errno the kernel would give where one applies.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} (EINVAL)")]
    Invalid { what: String },
    #[error("{what} (EBUSY)")]
    Busy { what: String },
    #[error("{what}")]
    Unsupported { what: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Longest sysfs or procfs file the probe reads: these are a few lines (`/proc/stat` of a
/// large machine is the biggest); a longer one is not what it claims to be.
const MAX_READ: u64 = 1 << 20;

fn read(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let f = fs::File::open(path).map_err(io(path))?;
    let mut s = String::new();
    f.take(MAX_READ).read_to_string(&mut s).map_err(io(path))?;
    Ok(s.trim_end().to_string())
}

fn read_opt(path: &Path) -> Option<String> {
    read(path).ok()
}

fn read_num(path: &Path) -> Option<u64> {
    read_opt(path)?.parse().ok()
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    // sysfs files exist before they are written: never create one.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(io(path))?;
    std::io::Write::write_all(&mut f, value.as_bytes()).map_err(io(path))
}

impl Roots {
    fn cpu_dir(&self) -> PathBuf {
        self.sys.join("devices/system/cpu")
    }

    /// The cpufreq policies (`cpufreq/policyN`), in numeric order.
    pub fn policies(&self) -> Vec<(u32, PathBuf)> {
        let dir = self.cpu_dir().join("cpufreq");
        let mut out: Vec<(u32, PathBuf)> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                let n = name.to_str()?.strip_prefix("policy")?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        out.sort();
        out
    }

    /// The RAPL zones (`powercap/intel-rapl:N`, top level only: packages).
    pub fn rapl_zones(&self) -> Vec<PathBuf> {
        let dir = self.sys.join("class/powercap");
        let mut out: Vec<PathBuf> = fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("intel-rapl:") && name.matches(':').count() == 1
            })
            .map(|e| e.path())
            .collect();
        out.sort();
        out
    }

    /// The kernel's CPU count (CPUs present, from `devices/system/cpu/present`, e.g. `0-7`).
    pub fn cpu_count(&self) -> Option<u32> {
        let present = read_opt(&self.cpu_dir().join("present"))?;
        Some(cpu_list(&present)?.len() as u32)
    }
}

/// Parses a kernel CPU list (`0-3,8,10-11`); None if malformed or absurdly large.
pub fn cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split([',', ' ']).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let a = part.parse::<u32>().ok()?;
                (a, a)
            }
        };
        // The kernel's limit on CPUs is 8192; a list past it is not a CPU list.
        if a > b || b >= 8192 || out.len() + (b - a) as usize >= 8192 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// The node this probe runs on.
    pub node_name: String,
    /// CPUs the kernel has (`devices/system/cpu/present`).
    pub cpu_count: Option<u32>,
    /// The cpufreq scaling driver (`scaling_driver` of the first policy), e.g. `intel_pstate`.
    pub cpufreq_driver: Option<String>,
    pub cpufreq_available: bool,
    pub rapl_available: bool,
    pub probe_version: String,
}

pub fn node_info(roots: &Roots, node_name: &str) -> NodeInfo {
    let policies = roots.policies();
    NodeInfo {
        node_name: node_name.to_string(),
        cpu_count: roots.cpu_count(),
        cpufreq_driver: policies
            .first()
            .and_then(|(_, p)| read_opt(&p.join("scaling_driver"))),
        cpufreq_available: !policies.is_empty(),
        rapl_available: roots
            .rapl_zones()
            .iter()
            .any(|z| z.join("energy_uj").exists()),
        probe_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct PolicyStatus {
    /// `policyN`.
    pub policy: String,
    /// CPUs this policy covers (`affected_cpus`).
    pub cpus: Vec<u32>,
    pub governor: Option<String>,
    pub available_governors: Vec<String>,
    pub cur_khz: Option<u64>,
    pub min_khz: Option<u64>,
    pub max_khz: Option<u64>,
    pub cpuinfo_min_khz: Option<u64>,
    pub cpuinfo_max_khz: Option<u64>,
    /// Energy-performance preference, where the driver has one.
    pub epp: Option<String>,
    pub available_epps: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct CpufreqStatus {
    pub policies: Vec<PolicyStatus>,
}

fn words(s: Option<String>) -> Vec<String> {
    s.map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

fn policy_status(n: u32, dir: &Path) -> PolicyStatus {
    PolicyStatus {
        policy: format!("policy{n}"),
        cpus: read_opt(&dir.join("affected_cpus"))
            .and_then(|s| cpu_list(&s))
            .unwrap_or_default(),
        governor: read_opt(&dir.join("scaling_governor")),
        available_governors: words(read_opt(&dir.join("scaling_available_governors"))),
        cur_khz: read_num(&dir.join("scaling_cur_freq")),
        min_khz: read_num(&dir.join("scaling_min_freq")),
        max_khz: read_num(&dir.join("scaling_max_freq")),
        cpuinfo_min_khz: read_num(&dir.join("cpuinfo_min_freq")),
        cpuinfo_max_khz: read_num(&dir.join("cpuinfo_max_freq")),
        epp: read_opt(&dir.join("energy_performance_preference")),
        available_epps: words(read_opt(
            &dir.join("energy_performance_available_preferences"),
        )),
    }
}

pub fn cpufreq_status(roots: &Roots) -> CpufreqStatus {
    CpufreqStatus {
        policies: roots
            .policies()
            .iter()
            .map(|(n, p)| policy_status(*n, p))
            .collect(),
    }
}

fn no_cpufreq() -> Error {
    Error::Unsupported {
        what: "this node has no cpufreq policies (devices/system/cpu/cpufreq/policy*)".into(),
    }
}

/// What a write did to one policy: the value before (for rollback) and what it holds now.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Written {
    pub policy: String,
    pub previous: String,
    pub written: String,
    /// Read back after the write (what the kernel kept).
    pub now: String,
}

/// Writes `value` into file `name` of every policy (unless a dry run), reading it back.
fn write_all(
    policies: &[(u32, PathBuf)],
    name: &str,
    value: &str,
    dry_run: bool,
) -> Result<Vec<Written>, Error> {
    policies
        .iter()
        .map(|(n, p)| write_one(&p.join(name), format!("policy{n}"), value, dry_run))
        .collect()
}

/// Writes one file (unless a dry run): what it held, what was written, what it holds now.
fn write_one(file: &Path, label: String, value: &str, dry_run: bool) -> Result<Written, Error> {
    let previous = read(file)?;
    if !dry_run {
        write(file, value)?;
    }
    Ok(Written {
        policy: label,
        previous,
        written: value.to_string(),
        now: read(file)?,
    })
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct SetGovernorResult {
    /// The governor chosen: the first of `governor` and `fallback` every policy offers.
    pub governor: String,
    pub dry_run: bool,
    pub policies: Vec<Written>,
}

/// Sets every policy's governor to the first of `wanted` that every policy offers.
pub fn set_governor(
    roots: &Roots,
    wanted: &[String],
    dry_run: bool,
) -> Result<SetGovernorResult, Error> {
    let policies = roots.policies();
    if policies.is_empty() {
        return Err(no_cpufreq());
    }
    let offered: Vec<Vec<String>> = policies
        .iter()
        .map(|(_, p)| words(read_opt(&p.join("scaling_available_governors"))))
        .collect();
    let Some(chosen) = wanted
        .iter()
        .find(|g| offered.iter().all(|o| o.contains(g)))
    else {
        return Err(Error::Invalid {
            what: format!(
                "no governor of [{}] is offered by every cpufreq policy (offered: {})",
                wanted.join(", "),
                offered.first().map(|o| o.join(" ")).unwrap_or_default()
            ),
        });
    };
    Ok(SetGovernorResult {
        governor: chosen.clone(),
        dry_run,
        policies: write_all(&policies, "scaling_governor", chosen, dry_run)?,
    })
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct FrequencyLimitsResult {
    pub dry_run: bool,
    /// Per policy and file (`scaling_min_freq`, `scaling_max_freq`): before, written, now.
    pub policies: Vec<Written>,
}

/// Sets `scaling_min_freq`/`scaling_max_freq` of every policy, clamped to the policy's
/// cpuinfo limits, and the minimum to the maximum, as the kernel does.
pub fn set_frequency_limits(
    roots: &Roots,
    min_khz: Option<u64>,
    max_khz: Option<u64>,
    dry_run: bool,
) -> Result<FrequencyLimitsResult, Error> {
    if min_khz.is_none() && max_khz.is_none() {
        return Err(Error::Invalid {
            what: "give min_khz, max_khz or both".into(),
        });
    }
    let policies = roots.policies();
    if policies.is_empty() {
        return Err(no_cpufreq());
    }
    let mut out = Vec::new();
    for (n, p) in &policies {
        let lo = read_num(&p.join("cpuinfo_min_freq")).unwrap_or(0);
        let hi = read_num(&p.join("cpuinfo_max_freq")).unwrap_or(u64::MAX);
        let (min_file, max_file) = (p.join("scaling_min_freq"), p.join("scaling_max_freq"));
        let max_before = read(&max_file)?;
        let new_max = max_khz
            .map(|v| v.clamp(lo, hi))
            .or_else(|| max_before.parse().ok());
        let new_min = min_khz.map(|v| {
            let v = v.clamp(lo, hi);
            new_max.map_or(v, |m| v.min(m))
        });
        // Max first, so that a min above the old max is not refused on the way.
        let max_written = new_max.filter(|_| max_khz.is_some());
        for (file, name, v) in [
            (&max_file, "scaling_max_freq", max_written),
            (&min_file, "scaling_min_freq", new_min),
        ] {
            if let Some(v) = v {
                let label = format!("policy{n}/{name}");
                out.push(write_one(file, label, &v.to_string(), dry_run)?);
            }
        }
    }
    Ok(FrequencyLimitsResult {
        dry_run,
        policies: out,
    })
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct SetEppResult {
    pub dry_run: bool,
    pub policies: Vec<Written>,
}

/// Sets the energy-performance preference of every policy.
pub fn set_epp(roots: &Roots, preference: &str, dry_run: bool) -> Result<SetEppResult, Error> {
    let policies = roots.policies();
    if policies.is_empty() {
        return Err(no_cpufreq());
    }
    // Check every policy before writing any: all or nothing.
    for (n, p) in &policies {
        let file = p.join("energy_performance_preference");
        if !file.exists() {
            return Err(Error::Unsupported {
                what: format!(
                    "policy{n} has no energy_performance_preference: the cpufreq driver has no EPP"
                ),
            });
        }
        let available = words(read_opt(
            &p.join("energy_performance_available_preferences"),
        ));
        if !available.iter().any(|a| a == preference) {
            return Err(Error::Invalid {
                what: format!(
                    "policy{n} does not offer EPP `{preference}` (offered: {})",
                    available.join(" ")
                ),
            });
        }
        let governor = read_opt(&p.join("scaling_governor")).unwrap_or_default();
        if governor == "performance" && preference != "performance" {
            return Err(Error::Busy {
                what: format!(
                    "policy{n} runs the performance governor, which only allows EPP `performance`"
                ),
            });
        }
    }
    Ok(SetEppResult {
        dry_run,
        policies: write_all(
            &policies,
            "energy_performance_preference",
            preference,
            dry_run,
        )?,
    })
}

/// One reading of every RAPL package zone: (zone, energy in µJ, wrap range in µJ).
pub fn rapl_sample(roots: &Roots) -> Result<Vec<(String, u64, u64)>, Error> {
    let zones = roots.rapl_zones();
    if zones.is_empty() {
        return Err(Error::Unsupported {
            what: "no RAPL zones (class/powercap/intel-rapl:*)".into(),
        });
    }
    zones
        .iter()
        .map(|z| {
            let energy = read(&z.join("energy_uj"))?;
            let energy = energy.parse().map_err(|_| Error::Invalid {
                what: format!("{}: not a number: {energy}", z.join("energy_uj").display()),
            })?;
            let range = read_num(&z.join("max_energy_range_uj")).unwrap_or(u64::MAX);
            let name = read_opt(&z.join("name")).unwrap_or_else(|| {
                z.file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            Ok((name, energy, range))
        })
        .collect()
}

/// Energy used between two counter readings, the counter wrapping at `range` (the kernel
/// resets `energy_uj` to 0 past `max_energy_range_uj`).
pub fn energy_delta_uj(before: u64, after: u64, range: u64) -> u64 {
    if after >= before {
        after - before
    } else {
        range.saturating_sub(before).saturating_add(after)
    }
}

/// CPU time counters of `/proc/stat`'s `cpu` line: (busy, total), in clock ticks.
pub fn proc_stat(roots: &Roots) -> Result<(u64, u64), Error> {
    let path = roots.proc.join("stat");
    let text = read(&path)?;
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| Error::Invalid {
            what: format!("{}: no `cpu` line", path.display()),
        })?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    if fields.len() < 4 {
        return Err(Error::Invalid {
            what: format!(
                "{}: the `cpu` line has fewer than 4 counters",
                path.display()
            ),
        });
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user/nice).
    let total: u64 = fields.iter().take(8).fold(0, |a, &b| a.saturating_add(b));
    let idle = fields[3].saturating_add(fields.get(4).copied().unwrap_or(0));
    Ok((total.saturating_sub(idle), total))
}

/// Utilization between two `/proc/stat` readings (None when no time passed).
pub fn utilization(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let total = after.1.checked_sub(before.1)?;
    let busy = after.0.saturating_sub(before.0);
    (total > 0).then(|| (busy as f64 / total as f64).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-3,8"), Some(vec![0, 1, 2, 3, 8]));
        assert_eq!(cpu_list("5"), Some(vec![5]));
        assert_eq!(cpu_list(""), Some(vec![]));
        assert_eq!(cpu_list("3-1"), None);
        assert_eq!(cpu_list("0-4294967295"), None);
        assert_eq!(cpu_list("x"), None);
    }

    #[test]
    fn energy_wraps_at_the_range() {
        assert_eq!(energy_delta_uj(100, 250, 1000), 150);
        assert_eq!(energy_delta_uj(900, 50, 1000), 150);
        assert_eq!(energy_delta_uj(u64::MAX, 0, u64::MAX), 0);
    }

    #[test]
    fn utilization_from_counters() {
        assert_eq!(utilization((10, 100), (60, 200)), Some(0.5));
        assert_eq!(utilization((10, 100), (10, 100)), None);
        assert_eq!(utilization((10, 100), (10, 50)), None);
    }
}
