//! Traces (`docs/simulate.md`): a manifest (`kind: Trace`, YAML) naming the starting snapshot,
//! the per-pod usage series (CSV), the nodes' power model and events. Reading is pure: the
//! caller reads the files, these functions turn text into values or diagnostics.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;

use crate::model::{CpuQuantity, Duration, MemoryQuantity};
use crate::syntax::diag::{Diagnostic, code};
use crate::syntax::source::{SourceFile, Span};

/// The largest usage file kilter reads (a day of 150,000 pods at 5-minute samples is ~1 GB;
/// split such traces by day).
pub const MAX_USAGE_BYTES: u64 = 1 << 30;

/// The most usage rows one trace may hold.
pub const MAX_USAGE_ROWS: usize = 20_000_000;

/// The trace manifest.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// The starting cluster snapshot, relative to the manifest.
    pub snapshot: String,
    /// The usage series (CSV), relative to the manifest.
    pub usage: String,
    /// Power models, first match wins; nodes no model selects get the default model.
    #[serde(default)]
    pub power: Vec<PowerModel>,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// How a pool of nodes draws power: `idle + (max - idle) * power[governor] * busy^exponent`,
/// where `busy` is the CPU in use over the CPU the governor's frequency leaves.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PowerModel {
    /// The pool's name in reports.
    pub pool: String,
    #[serde(default)]
    pub node_selector: Option<LabelSelector>,
    pub idle_watts: f64,
    pub max_watts: f64,
    #[serde(default = "one")]
    pub exponent: f64,
    /// Per governor: the share of full frequency it runs at under load and the share of
    /// dynamic power it draws (both 0–1; governors not listed use kilter's defaults).
    #[serde(default)]
    pub governors: BTreeMap<String, GovernorFactor>,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GovernorFactor {
    pub frequency: f64,
    pub power: f64,
}

/// Something that happens to the cluster at a point of the trace.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    pub time: String,
    /// The node fails: NotReady, its pods Pending until the scheduler places them elsewhere.
    #[serde(default)]
    pub remove_node: Option<String>,
    /// A removed node comes back, empty and schedulable.
    #[serde(default)]
    pub restore_node: Option<String>,
    /// A new node joins (written as in a snapshot's `nodes`).
    #[serde(default)]
    pub add_node: Option<crate::state::Node>,
    /// A workload is scaled: new pods copy an existing one (and its usage) and start Pending;
    /// scaling down ends the newest pods.
    #[serde(default)]
    pub scale: Option<Scale>,
}

#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scale {
    pub namespace: String,
    /// The pods' owner (as the snapshot's `owner.name`).
    pub workload: String,
    pub replicas: u32,
}

impl Event {
    fn count(&self) -> usize {
        usize::from(self.remove_node.is_some())
            + usize::from(self.restore_node.is_some())
            + usize::from(self.add_node.is_some())
            + usize::from(self.scale.is_some())
    }
}

/// Kilter's governor factors when a power model does not list a governor. Dynamic power falls
/// faster than frequency (voltage drops with it): a core at 60% of its clock draws about a
/// third of the dynamic power, for the same busy time.
pub fn default_factor(governor: &str) -> GovernorFactor {
    let (frequency, power) = match governor {
        "performance" => (1.0, 1.0),
        "schedutil" => (1.0, 0.85),
        "ondemand" => (1.0, 0.88),
        "conservative" => (0.8, 0.55),
        "powersave" => (0.6, 0.3),
        _ => (1.0, 1.0),
    };
    GovernorFactor { frequency, power }
}

impl PowerModel {
    /// The model of a node no power model selects: 50 W plus 25 W a core at full load, idle
    /// at 35% of that.
    pub fn default_for(cores: f64) -> PowerModel {
        let max = 50.0 + 25.0 * cores;
        PowerModel {
            pool: "other".into(),
            node_selector: None,
            idle_watts: 0.35 * max,
            max_watts: max,
            exponent: 1.0,
            governors: BTreeMap::new(),
        }
    }

    pub fn factor(&self, governor: Option<&str>) -> GovernorFactor {
        let g = governor.unwrap_or("performance");
        self.governors
            .get(g)
            .copied()
            .unwrap_or_else(|| default_factor(g))
    }

    /// Watts drawn at `busy` (0–1) under a governor with dynamic power factor `power`.
    pub fn watts(&self, busy: f64, power: f64) -> f64 {
        self.idle_watts
            + (self.max_watts - self.idle_watts) * power * busy.clamp(0.0, 1.0).powf(self.exponent)
    }
}

/// A manifest with its times read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checked {
    pub manifest: Manifest,
    /// (time, event), in time order.
    pub events: Vec<(DateTime<Utc>, Event)>,
}

/// Reads a trace manifest.
pub fn load_manifest(file: &Arc<SourceFile>) -> Result<Checked, Vec<Diagnostic>> {
    let (node, manifest, mut diags) = crate::syntax::de::decode_file::<Manifest>(file, "trace")?;
    let mut events = Vec::new();
    if let Some(m) = &manifest {
        for (i, p) in m.power.iter().enumerate() {
            let at = |f: &str| node.span_at(&format!("power[{i}].{f}"));
            let bad =
                |f: &str, msg: String| Diagnostic::error(code::INVALID_VALUE, file, at(f), msg);
            if !(p.idle_watts.is_finite() && p.idle_watts >= 0.0) {
                diags.push(bad("idleWatts", "idleWatts must be 0 or more".into()));
            }
            if !(p.max_watts.is_finite() && p.max_watts >= p.idle_watts) {
                diags.push(bad(
                    "maxWatts",
                    "maxWatts must be at least idleWatts".into(),
                ));
            }
            if !(p.exponent.is_finite() && (0.1..=10.0).contains(&p.exponent)) {
                diags.push(bad(
                    "exponent",
                    "exponent must be between 0.1 and 10".into(),
                ));
            }
            for (g, f) in &p.governors {
                let ok = |x: f64| x.is_finite() && x > 0.0 && x <= 1.0;
                if !ok(f.frequency) || !ok(f.power) {
                    diags.push(bad(
                        &format!("governors.{g}"),
                        format!(
                            "governor `{g}`: frequency and power are shares above 0, at most 1"
                        ),
                    ));
                }
            }
            if let Some(sel) = &p.node_selector
                && let Err(e) = crate::model::selector::validate(sel)
            {
                diags.push(bad("nodeSelector", e.to_string()));
            }
        }
        for (i, e) in m.events.iter().enumerate() {
            let at = |f: &str| node.span_at(&format!("events[{i}].{f}"));
            match crate::state::parse_time(&e.time) {
                Some(t) => events.push((t, e.clone())),
                None => diags.push(Diagnostic::error(
                    code::INVALID_VALUE,
                    file,
                    at("time"),
                    format!(
                        "`{}` is not an RFC 3339 time like 2026-11-23T22:30:00Z",
                        e.time
                    ),
                )),
            }
            if e.count() != 1 {
                diags.push(Diagnostic::error(
                    code::INVALID_VALUE,
                    file,
                    node.span_at(&format!("events[{i}]")),
                    "an event sets exactly one of removeNode, restoreNode, addNode and scale",
                ));
            }
            if let Some(n) = &e.add_node {
                let one = crate::state::ClusterState {
                    nodes: vec![n.clone()],
                    ..Default::default()
                };
                for (path, message) in crate::state::check(&one) {
                    let path = path.replacen("nodes[0]", &format!("events[{i}].addNode"), 1);
                    diags.push(Diagnostic::error(
                        code::INVALID_VALUE,
                        file,
                        node.span_at(&path),
                        message,
                    ));
                }
            }
            if let Some(sc) = &e.scale
                && sc.replicas > 10_000
            {
                diags.push(Diagnostic::error(
                    code::INVALID_VALUE,
                    file,
                    at("scale.replicas"),
                    "a scale event sets at most 10,000 replicas",
                ));
            }
        }
    }
    events.sort_by_key(|(t, _)| *t);
    match manifest {
        Some(manifest) if diags.is_empty() => Ok(Checked { manifest, events }),
        _ => Err(diags),
    }
}

/// Per-pod usage over time: samples hold until the next one for the same pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// The distinct sample times, ascending.
    pub times: Vec<DateTime<Utc>>,
    /// Pods by (namespace, name), in order of first appearance.
    pub pods: Vec<(String, String)>,
    /// Samples in time order: (time index, pod index, CPU millicores, memory bytes or -1).
    pub samples: Vec<Sample>,
}

impl Usage {
    /// Where each pod of the usage file is in `state.pods` (None: the snapshot lacks it).
    pub fn pod_indices(&self, state: &crate::state::ClusterState) -> Vec<Option<usize>> {
        let at: foldhash::HashMap<(&str, &str), usize> = state
            .pods
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.namespace.as_str(), p.name.as_str()), i))
            .collect();
        self.pods
            .iter()
            .map(|(ns, n)| at.get(&(ns.as_str(), n.as_str())).copied())
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub time: u32,
    pub pod: u32,
    pub cpu: i64,
    pub memory: i64,
}

/// Reads a usage CSV: a header `time,namespace,pod,cpu,memory` (memory may be left empty),
/// rows in time order, `#` lines are comments.
pub fn load_usage(file: &Arc<SourceFile>) -> Result<Usage, Vec<Diagnostic>> {
    if let Some(d) = crate::syntax::limits::line_too_long(file) {
        return Err(vec![d]);
    }
    let text = &file.text;
    let err = |at: usize, end: usize, msg: String| {
        let end = end.clamp(at, text.len());
        Diagnostic::error(code::INVALID_VALUE, file, Span::new(at, end), msg)
    };
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    const HEADER: [&str; 5] = ["time", "namespace", "pod", "cpu", "memory"];
    match reader.headers() {
        Ok(h) if h.iter().map(str::trim).eq(HEADER) => {}
        Ok(h) => {
            let at = h.position().map_or(0, |p| p.byte() as usize);
            let end = text[at..].find('\n').map_or(text.len(), |e| at + e);
            return Err(vec![
                err(
                    at,
                    end,
                    format!("the usage file's header must be `{}`", HEADER.join(",")),
                )
                .with_help("see docs/simulate.md for the columns"),
            ]);
        }
        Err(e) => return Err(vec![csv_error(file, &e)]),
    }
    let mut usage = Usage::default();
    let mut pod_index: foldhash::HashMap<(String, String), u32> = Default::default();
    let mut diags = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                diags.push(csv_error(file, &e));
                break;
            }
        }
        let start = record.position().map_or(0, |p| p.byte() as usize);
        if usage.samples.len() >= MAX_USAGE_ROWS {
            diags.push(err(
                start,
                start + 1,
                format!(
                    "this usage file holds more than {MAX_USAGE_ROWS} rows; kilter reads no further"
                ),
            ));
            break;
        }
        // Where field `k` of this row starts and ends in the file.
        let field = |k: usize| {
            let mut at = start;
            for j in 0..k {
                at += record.get(j).map_or(0, str::len) + 1;
            }
            (at, at + record.get(k).map_or(0, str::len))
        };
        let get = |k: usize| record.get(k).unwrap_or("").trim();
        let before = diags.len();
        let time = match crate::state::parse_time(get(0)) {
            Some(t) => Some(t),
            None => {
                let (a, b) = field(0);
                diags.push(err(
                    a,
                    b,
                    format!(
                        "`{}` is not an RFC 3339 time like 2026-11-23T22:30:00Z",
                        get(0)
                    ),
                ));
                None
            }
        };
        if get(1).is_empty() || get(2).is_empty() {
            let (a, b) = field(1);
            diags.push(err(a, b, "a row needs the pod's namespace and name".into()));
        }
        let cpu = CpuQuantity::parse(get(3)).map_err(|e| {
            let (a, b) = field(3);
            diags.push(err(a, b, e));
        });
        let memory = if get(4).is_empty() {
            Ok(MemoryQuantity(-1))
        } else {
            MemoryQuantity::parse(get(4)).map_err(|e| {
                let (a, b) = field(4);
                diags.push(err(a, b, e));
            })
        };
        if let (Some(&last), Some(t)) = (usage.times.last(), time)
            && t < last
        {
            let (a, b) = field(0);
            diags.push(err(
                a,
                b,
                format!("rows must be in time order: {t} comes after {last}"),
            ));
        }
        if diags.len() > before {
            if diags.len() >= 100 {
                break;
            }
            continue;
        }
        let (Some(time), Ok(cpu), Ok(memory)) = (time, cpu, memory) else {
            continue;
        };
        if cpu.0 < 0 {
            let (a, b) = field(3);
            diags.push(err(a, b, "CPU usage cannot be negative".into()));
            continue;
        }
        if usage.times.last() != Some(&time) {
            usage.times.push(time);
        }
        let key = (get(1).to_string(), get(2).to_string());
        let next = usage.pods.len() as u32;
        let pod = *pod_index.entry(key.clone()).or_insert_with(|| {
            usage.pods.push(key);
            next
        });
        usage.samples.push(Sample {
            time: (usage.times.len() - 1) as u32,
            pod,
            cpu: cpu.0,
            memory: memory.0,
        });
    }
    if diags.is_empty() && usage.times.is_empty() {
        diags.push(err(
            0,
            text.len().min(1),
            "the usage file holds no rows".into(),
        ));
    }
    if diags.is_empty() {
        Ok(usage)
    } else {
        Err(diags)
    }
}

fn csv_error(file: &Arc<SourceFile>, e: &csv::Error) -> Diagnostic {
    let at = e
        .position()
        .map_or(0, |p| p.byte() as usize)
        .min(file.text.len());
    let msg = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("this row has {len} fields; the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "this row is not valid UTF-8".into(),
        _ => e.to_string(),
    };
    let end = file.text[at..]
        .find('\n')
        .map_or(file.text.len(), |x| at + x);
    Diagnostic::error(code::SYNTAX, file, Span::new(at, end.max(at)), msg)
}

/// A duration as chrono's.
pub fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d.0).unwrap_or(chrono::Duration::MAX)
}
