//! A sysfs- and procfs-shaped tree in a directory, laid out like a real machine's, for tests
//! and demos of the probe on machines without cpufreq or RAPL (containers, CI, laptops).
//!
//! `DIR/sys` holds `devices/system/cpu/{present,online,possible}`, one cpufreq policy per CPU
//! (`devices/system/cpu/cpufreq/policyN`, with `cpuN/cpufreq` a symlink to it, as
//! `intel_pstate` and `amd-pstate` lay them out) and one RAPL package zone
//! (`class/powercap/intel-rapl:0`); `DIR/proc/stat` has the `cpu` lines. Plain files cannot
//! refuse a write the way the kernel does: the probe enforces those rules (`sysfs.rs`).

use std::fs;
use std::io;
use std::path::Path;

/// How to lay the tree out.
#[derive(Clone, Debug)]
pub struct Shape {
    pub cpus: u32,
    pub governors: Vec<String>,
    pub governor: String,
    pub driver: String,
    pub cpuinfo_min_khz: u64,
    pub cpuinfo_max_khz: u64,
    /// Energy-performance preferences offered (empty: the driver has no EPP).
    pub epps: Vec<String>,
    pub rapl: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            cpus: 4,
            governors: ["performance", "powersave", "schedutil"]
                .map(String::from)
                .to_vec(),
            governor: "schedutil".into(),
            driver: "acpi-cpufreq".into(),
            cpuinfo_min_khz: 800_000,
            cpuinfo_max_khz: 3_600_000,
            epps: [
                "default",
                "performance",
                "balance_performance",
                "balance_power",
                "power",
            ]
            .map(String::from)
            .to_vec(),
            rapl: true,
        }
    }
}

fn put(path: &Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, format!("{text}\n"))
}

/// Lays out `dir/sys` and `dir/proc` with `shape`.
pub fn lay_out(dir: &Path, shape: &Shape) -> io::Result<()> {
    if shape.cpus == 0 || shape.cpus > 8192 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--cpus must be between 1 and 8192",
        ));
    }
    if !shape.governors.contains(&shape.governor) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the starting governor {} is not among the governors offered",
                shape.governor
            ),
        ));
    }
    let cpu = dir.join("sys/devices/system/cpu");
    let last = shape.cpus - 1;
    let list = if last == 0 {
        "0".to_string()
    } else {
        format!("0-{last}")
    };
    for f in ["present", "online", "possible"] {
        put(&cpu.join(f), &list)?;
    }
    for n in 0..shape.cpus {
        let p = cpu.join(format!("cpufreq/policy{n}"));
        let files: [(&str, String); 11] = [
            ("affected_cpus", n.to_string()),
            ("related_cpus", n.to_string()),
            ("scaling_driver", shape.driver.clone()),
            ("scaling_governor", shape.governor.clone()),
            ("scaling_available_governors", shape.governors.join(" ")),
            ("cpuinfo_min_freq", shape.cpuinfo_min_khz.to_string()),
            ("cpuinfo_max_freq", shape.cpuinfo_max_khz.to_string()),
            ("scaling_min_freq", shape.cpuinfo_min_khz.to_string()),
            ("scaling_max_freq", shape.cpuinfo_max_khz.to_string()),
            ("scaling_cur_freq", shape.cpuinfo_max_khz.to_string()),
            ("cpuinfo_transition_latency", "0".to_string()),
        ];
        for (name, value) in files {
            put(&p.join(name), &value)?;
        }
        if !shape.epps.is_empty() {
            let epp = if shape.governor == "performance" {
                "performance"
            } else {
                shape.epps.first().map_or("default", String::as_str)
            };
            put(&p.join("energy_performance_preference"), epp)?;
            put(
                &p.join("energy_performance_available_preferences"),
                &shape.epps.join(" "),
            )?;
        }
        let link = cpu.join(format!("cpu{n}/cpufreq"));
        fs::create_dir_all(cpu.join(format!("cpu{n}")))?;
        if fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("../cpufreq/policy{n}"), &link)?;
        }
    }
    if shape.rapl {
        let z = dir.join("sys/class/powercap/intel-rapl:0");
        put(&z.join("name"), "package-0")?;
        put(&z.join("energy_uj"), "0")?;
        put(&z.join("max_energy_range_uj"), "262143328850")?;
    }
    let mut stat = String::from("cpu  0 0 0 0 0 0 0 0 0 0\n");
    for n in 0..shape.cpus {
        stat.push_str(&format!("cpu{n} 0 0 0 0 0 0 0 0 0 0\n"));
    }
    put(&dir.join("proc/stat"), stat.trim_end())
}
