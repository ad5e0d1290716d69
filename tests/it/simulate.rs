//! `kilter simulate` on the lab's week of trace: the report, its determinism, the HTML report
//! in a real browser, and A/B comparisons whose verdicts must follow the truth.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::root;

fn kilter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kilter"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Two days of the lab, at 5-minute cycles (the week at 1-minute cycles is the README's run).
const WINDOW: [&str; 6] = [
    "--from",
    "2026-11-23T12:00:00Z",
    "--to",
    "2026-11-25T12:00:00Z",
    "--step",
    "5m",
];

#[test]
fn the_lab_week_reports_energy_actions_and_fairness() {
    let out = kilter(&[
        "simulate",
        "examples/lab",
        "--trace",
        "examples/lab/trace.yaml",
        "--format",
        "json",
    ]);
    let r = json(&out);
    assert_eq!(r["cycles"], 10080, "a week of 1-minute cycles");
    let energy = r["energyKwh"].as_f64().unwrap();
    let pools: f64 = r["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["energyKwh"].as_f64().unwrap())
        .sum();
    assert!(energy > 50.0, "{energy}");
    assert!((energy - pools).abs() < 0.01, "{energy} vs {pools}");
    // Night powersave and business-hours performance on the workers: governor changes both
    // ways, and the market resizes web and batch.
    assert!(r["actions"]["set_governor"].as_u64().unwrap() >= 10, "{r}");
    assert!(r["actions"]["resize"].as_u64().unwrap() >= 1, "{r}");
    // The consolidation policy is DryRun: shown, never applied.
    assert!(r["actions"].get("drain").is_none());
    assert!(r["dryRunActions"]["drain"].as_u64().unwrap() > 0);
    // Thursday's noisy neighbour runs past its limit: throttled.
    assert!(r["throttling"]["coreSeconds"].as_f64().unwrap() > 0.0);
    let jain = r["fairness"][0]["jain"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&jain), "{jain}");
    // The web target forecasts half an hour ahead on a daily season: after the first day,
    // thousands of forecasts are checked against the usage that came.
    let checked = r["forecast"]["checked"].as_u64().unwrap();
    let mape = r["forecast"]["mape"].as_f64().unwrap();
    assert!(checked > 1000, "{checked}");
    assert!(mape > 0.0 && mape < 0.5, "{mape}");

    let human = kilter(&[
        "simulate",
        "examples/lab",
        "--trace",
        "examples/lab/trace.yaml",
    ]);
    assert!(human.status.success());
    let text = String::from_utf8(human.stdout).unwrap();
    for want in [
        "Energy:",
        "workers",
        "Throttling:",
        "Actions applied:",
        "Jain's index",
    ] {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
}

#[test]
fn the_same_trace_and_seed_give_byte_identical_json() {
    let args = [
        &[
            "simulate",
            "examples/lab",
            "--trace",
            "examples/lab/trace.yaml",
            "--format",
            "json",
        ][..],
        &WINDOW[..],
    ]
    .concat();
    let a = kilter(&args);
    let b = kilter(&args);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    // And noisy copies are deterministic for their seed (the library API).
    let trace = root().join("examples/lab");
    let (bundle, state, usage, checked) = load_lab(&trace);
    let run = |seed| {
        let o = kilter::sim::run::Options {
            step: chrono::Duration::minutes(5),
            noise: Some((seed, 0.1)),
            ..Default::default()
        };
        kilter::sim::report::render_json(&kilter::sim::run::simulate(
            &bundle,
            &state,
            &usage,
            &checked,
            &o,
            &mut |_, _| {},
        ))
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8), "the noise depends on the seed");
}

type Lab = (
    kilter::plan::Bundle,
    kilter::state::ClusterState,
    kilter::sim::trace::Usage,
    kilter::sim::trace::Checked,
);

fn load_lab(dir: &Path) -> Lab {
    let read = |name: &str| {
        let p = dir.join(name);
        kilter::syntax::source::SourceFile::new(
            p.display().to_string(),
            std::fs::read_to_string(&p).unwrap(),
        )
    };
    let out = kilter::lint::lint(&[
        read("policies.kilter"),
        read("budgets.yaml"),
        read("targets.yaml"),
        read("targets-batch.kilter"),
        read("weekend.yaml"),
    ]);
    assert!(!out.has_errors());
    let bundle = kilter::plan::Bundle::from_documents(&out.documents);
    let checked = kilter::sim::trace::load_manifest(&read("trace.yaml")).unwrap();
    let state = kilter::state::load(&read("snapshot.yaml")).unwrap();
    let usage = kilter::sim::trace::load_usage(&read("usage.csv")).unwrap();
    (bundle, state, usage, checked)
}

/// The lab with its night-time powersave policy switched to DryRun.
fn lab_without_night_powersave(dir: &Path) -> PathBuf {
    let to = dir.join("no-powersave");
    std::fs::create_dir_all(&to).unwrap();
    for f in std::fs::read_dir(root().join("examples/lab")).unwrap() {
        let f = f.unwrap().path();
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".yaml") || name.ends_with(".kilter") {
            std::fs::copy(&f, to.join(&name)).unwrap();
        }
    }
    let p = to.join("policies.kilter");
    let text = std::fs::read_to_string(&p).unwrap();
    let (head, tail) = text.split_once("policy peak-performance").unwrap();
    let head = head.replacen("mode: Enforce", "mode: DryRun", 1);
    assert!(head.contains("off-peak-powersave") && head.contains("mode: DryRun"));
    std::fs::write(&p, format!("{head}policy peak-performance{tail}")).unwrap();
    to
}

fn verdicts(out: &Output) -> std::collections::BTreeMap<String, String> {
    json(out)["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["metric"].as_str().unwrap().to_string(),
                m["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn ab_finds_the_better_variant_and_no_difference_in_an_identical_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let worse = lab_without_night_powersave(tmp.path());
    let worse = worse.to_str().unwrap();
    let compare = |a: &str, b: &str, extra: &[&str]| {
        let args = [
            &[
                "simulate",
                "--compare",
                a,
                b,
                "--trace",
                "examples/lab/trace.yaml",
                "--seeds",
                "5",
                "--format",
                "json",
            ][..],
            &WINDOW[..],
            extra,
        ]
        .concat();
        kilter(&args)
    };
    // B (the lab as it is) saves energy at night over A (no powersave): better.
    let v = verdicts(&compare(worse, "examples/lab", &[]));
    assert_eq!(v["energy"], "better", "{v:?}");
    // Identical bundles: nothing significant.
    let v = verdicts(&compare("examples/lab", "examples/lab", &[]));
    assert!(
        v.values().all(|x| x == "no significant difference"),
        "{v:?}"
    );
    // The other way round, --fail-if-worse energy fails the run.
    let out = compare("examples/lab", worse, &["--fail-if-worse", "energy,slo"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = compare(
        "examples/lab",
        "examples/lab",
        &["--fail-if-worse", "energy"],
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_broken_trace_gets_its_diagnostic_at_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = root().join("examples/lab");
    std::fs::copy(lab.join("snapshot.yaml"), tmp.path().join("snapshot.yaml")).unwrap();
    std::fs::copy(lab.join("trace.yaml"), tmp.path().join("trace.yaml")).unwrap();
    std::fs::write(
        tmp.path().join("usage.csv"),
        "time,namespace,pod,cpu,memory\n\
         2026-11-23T00:00:00Z,prod,web-7d9f-0,500m,1Gi\n\
         2026-11-23T00:05:00Z,prod,web-7d9f-0,lots,1Gi\n",
    )
    .unwrap();
    let trace = tmp.path().join("trace.yaml");
    let out = kilter(&[
        "simulate",
        "examples/lab",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("usage.csv:3:38"), "{err}");
    assert!(err.contains("lots"), "{err}");

    std::fs::write(
        tmp.path().join("trace.yaml"),
        "kind: Trace\nsnapshot: snapshot.yaml\nusage: usage.csv\npower:\n  - pool: a\n    idleWatts: 100\n    maxWatts: 50\n",
    )
    .unwrap();
    let out = kilter(&[
        "simulate",
        "examples/lab",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trace.yaml:7:15"), "{err}");
    assert!(err.contains("maxWatts must be at least idleWatts"), "{err}");
}

/// Renders the HTML report in headless Chromium (`KILTER_TEST_CHROMIUM`, set by scripts/test;
/// `.ci/run` installs Debian's `chromium`) and checks the plots are in it.
#[test]
#[ignore = "needs Chromium: KILTER_TEST_CHROMIUM=/usr/bin/chromium"]
fn the_html_report_renders_in_a_headless_browser() {
    let chromium = std::env::var("KILTER_TEST_CHROMIUM").expect("KILTER_TEST_CHROMIUM");
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("report.html");
    let out = kilter(&[
        "simulate",
        "examples/lab",
        "--trace",
        "examples/lab/trace.yaml",
        "--report",
        html.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        page.matches("<svg").count(),
        5,
        "two budgets, pools, workloads, throttling"
    );
    assert!(page.contains("Power of budget workers against its limits"));
    assert!(
        page.contains("<polyline") || page.contains("<path"),
        "plotted lines"
    );
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "nothing loaded from the network"
    );
    assert!(!page.contains("<script"), "self-contained, no script");

    // The DOM as Chromium parsed it holds the SVG elements, and a screenshot is drawn.
    let dom = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg").count(), 5);
    let png = tmp.path().join("report.png");
    let shot = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,2400",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // Width and height from the IHDR chunk; a blank page compresses to a few KB, the plots
    // take far more.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (1000, 2400));
    assert!(
        bytes.len() > 50_000,
        "{} bytes: the page looks blank",
        bytes.len()
    );
}

/// The standard closed-loop scenarios under `tests/scenarios/`, each with its asserted
/// outcomes.
#[test]
fn every_scenario_meets_its_expectations() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("tests/scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path().join("scenario.yaml"))
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let args: Vec<&str> = ["simulate", "--scenario"]
        .into_iter()
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = kilter(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("ok ").count(), files.len(), "{text}");
}

#[test]
fn a_scenario_whose_outcome_is_not_met_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let from = root().join("tests/scenarios/power-cap-breach");
    let dir = tmp.path().join("s");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["trace.yaml", "usage.csv", "policies.kilter"] {
        std::fs::copy(from.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(
        root().join("tests/scenarios/cluster.yaml"),
        tmp.path().join("cluster.yaml"),
    )
    .unwrap();
    // The cap is breached for one cycle: a bound of 0 cycles fails.
    let scenario = std::fs::read_to_string(from.join("scenario.yaml"))
        .unwrap()
        .replace(
            "longestOverMaxCycles, max: 1",
            "longestOverMaxCycles, max: 0",
        );
    std::fs::write(dir.join("scenario.yaml"), scenario).unwrap();
    let path = dir.join("scenario.yaml");
    let out = kilter(&["simulate", "--scenario", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/budgets/0/longestOverMaxCycles is 1, above the maximum 0"),
        "{text}"
    );
}

#[test]
fn recommend_sizes_from_the_traces_percentiles_as_lint_clean_scaling_targets() {
    let out = kilter(&[
        "recommend",
        "--trace",
        "examples/lab/trace.yaml",
        "--format",
        "json",
    ]);
    let recs = json(&out);
    let web = recs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "web")
        .unwrap();
    // The 95th percentile (nearest rank) of the web pods' samples, read straight off the CSV.
    let csv = std::fs::read_to_string(root().join("examples/lab/usage.csv")).unwrap();
    let mut cpu: Vec<i64> = csv
        .lines()
        .filter(|l| l.contains(",prod,web-"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f[3].trim_end_matches('m').parse::<i64>().unwrap()
        })
        .collect();
    cpu.sort();
    let rank = (0.95 * cpu.len() as f64).ceil() as usize;
    assert_eq!(web["cpuP95"], cpu[rank - 1]);
    assert_eq!(web["recommendedCpuRequest"], cpu[rank - 1]);
    assert_eq!(web["pods"], 3);
    assert!(web["recommendedCpuLimit"].as_i64() >= web["cpuP99"].as_i64());

    let yaml = kilter(&[
        "recommend",
        "--trace",
        "examples/lab/trace.yaml",
        "--format",
        "yaml",
    ]);
    assert!(yaml.status.success());
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("targets.yaml");
    std::fs::write(&path, &yaml.stdout).unwrap();
    let lint = kilter(&["lint", path.to_str().unwrap()]);
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&yaml.stdout)
            .matches("kind: ScalingTarget")
            .count(),
        5
    );
}

#[test]
fn lint_knows_the_forecast_variables_and_field() {
    let text = "scalingTarget prod/web {\n  workloadRef { kind: Deployment, name: web }\n  demand: `max(pod.cpu.usage, pod.cpu.forecst) / pod.cpu.limit`\n  forecast { horizon: 30m, season: 1m }\n}\n";
    let out = kilter::lint::lint_text("t.kilter", text);
    let msgs: Vec<String> = out
        .diagnostics
        .iter()
        .map(|d| format!("{} {:?}", d.one_line(), d.help))
        .collect();
    assert_eq!(out.diagnostics.len(), 2, "one error per mistake: {msgs:#?}");
    assert!(
        msgs.iter().any(|m| m.contains("pod.cpu.forecast")),
        "a misspelt forecast is suggested: {msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("season") && m.contains("between 2m and 7d")),
        "{msgs:#?}"
    );
    let good = text
        .replace("forecst", "forecast")
        .replace("season: 1m", "season: 24h");
    let out = kilter::lint::lint_text("t.kilter", &good);
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
}

/// `gen-fleet` writes a snapshot the fast readers take (as JSON and as YAML, planned the same),
/// a lint-clean bundle that plans on it, and manifests with one object per node and pod; the
/// same arguments give the same files.
#[test]
fn gen_fleet_writes_a_fleet_that_plans() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let generate = |out: &str| {
        let o = kilter(&[
            "simulate",
            "gen-fleet",
            "--nodes",
            "20",
            "--pods-per-node",
            "5",
            "--out",
            out,
            "--manifests",
            "--yaml",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    generate(out);
    let snapshot = std::fs::read_to_string(dir.path().join("snapshot.json")).unwrap();
    let state = kilter::state::load_json_fast(&snapshot).expect("the fast reader takes it");
    assert_eq!((state.nodes.len(), state.pods.len()), (20, 100));
    let plan = json(&kilter(&[
        "plan",
        "--state",
        &format!("{out}/snapshot.json"),
        &format!("{out}/policies.kilter"),
        "--format",
        "json",
    ]));
    assert!(!plan["actions"].as_array().unwrap().is_empty(), "{plan}");
    let yaml = std::fs::read_to_string(dir.path().join("snapshot.yaml")).unwrap();
    assert_eq!(kilter::state::load_yaml_fast(&yaml).as_ref(), Some(&state));
    let plan_yaml = json(&kilter(&[
        "plan",
        "--state",
        &format!("{out}/snapshot.yaml"),
        &format!("{out}/policies.kilter"),
        "--format",
        "json",
    ]));
    assert_eq!(plan_yaml, plan);
    let manifests = std::fs::read_to_string(dir.path().join("manifests.yaml")).unwrap();
    let kinds: Vec<String> = manifests
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "Node").count(), 20);
    assert_eq!(kinds.iter().filter(|k| *k == "Pod").count(), 100);
    let again = tempfile::tempdir().unwrap();
    generate(again.path().to_str().unwrap());
    for f in [
        "snapshot.json",
        "snapshot.yaml",
        "policies.kilter",
        "manifests.yaml",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join(f)).unwrap(),
            std::fs::read(again.path().join(f)).unwrap(),
            "{f}"
        );
    }
}
