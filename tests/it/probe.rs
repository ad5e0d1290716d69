//! The node probe: the kernel's rules on a fake sysfs tree, serialized writes, the HTTP edge
//! (token, health), and the official Python MCP SDK driving `kilter probe serve`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use kilter::probe::fake::{self, Shape};
use kilter::probe::server::Probe;
use kilter::probe::sysfs::{self, Error, Roots};
use rmcp::handler::server::wrapper::Parameters;

fn tree(shape: &Shape) -> (tempfile::TempDir, Roots) {
    let dir = tempfile::tempdir().unwrap();
    fake::lay_out(dir.path(), shape).unwrap();
    let roots = Roots {
        sys: dir.path().join("sys"),
        proc: dir.path().join("proc"),
    };
    (dir, roots)
}

fn policy_file(roots: &Roots, n: u32, file: &str) -> PathBuf {
    roots
        .sys
        .join(format!("devices/system/cpu/cpufreq/policy{n}/{file}"))
}

fn get(roots: &Roots, n: u32, file: &str) -> String {
    fs::read_to_string(policy_file(roots, n, file))
        .unwrap()
        .trim()
        .to_string()
}

fn set(roots: &Roots, n: u32, file: &str, value: &str) {
    fs::write(policy_file(roots, n, file), format!("{value}\n")).unwrap();
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_fake_tree_is_shaped_like_sysfs() {
    let (_d, roots) = tree(&Shape {
        cpus: 3,
        ..Default::default()
    });
    // cpuN/cpufreq is a symlink to the policy, as on a real machine.
    let link = roots.sys.join("devices/system/cpu/cpu2/cpufreq");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        PathBuf::from("../cpufreq/policy2")
    );
    assert_eq!(
        fs::read_to_string(link.join("scaling_governor")).unwrap(),
        "schedutil\n"
    );
    let info = sysfs::node_info(&roots, "n1");
    assert_eq!(info.cpu_count, Some(3));
    assert!(info.cpufreq_available && info.rapl_available);
    assert_eq!(info.cpufreq_driver.as_deref(), Some("acpi-cpufreq"));
    let status = sysfs::cpufreq_status(&roots);
    assert_eq!(status.policies.len(), 3);
    assert_eq!(status.policies[1].cpus, vec![1]);
    assert_eq!(status.policies[1].cpuinfo_max_khz, Some(3_600_000));
    assert_eq!(status.policies[1].epp.as_deref(), Some("default"));
}

#[test]
fn an_unknown_governor_is_einval_and_nothing_is_written() {
    let (_d, roots) = tree(&Shape::default());
    let e = sysfs::set_governor(&roots, &strings(&["ondemand"]), false).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("EINVAL"), "{e}");
    for n in 0..4 {
        assert_eq!(get(&roots, n, "scaling_governor"), "schedutil");
    }
}

#[test]
fn a_governor_one_policy_lacks_falls_back_for_all() {
    let (_d, roots) = tree(&Shape::default());
    // policy2 does not offer powersave: the fallback is taken everywhere, not a mix.
    set(
        &roots,
        2,
        "scaling_available_governors",
        "performance schedutil",
    );
    let r = sysfs::set_governor(&roots, &strings(&["powersave", "performance"]), false).unwrap();
    assert_eq!(r.governor, "performance");
    for n in 0..4 {
        assert_eq!(get(&roots, n, "scaling_governor"), "performance");
    }
    assert!(r.policies.iter().all(|w| w.previous == "schedutil"));
}

#[test]
fn dry_run_writes_nothing() {
    let (_d, roots) = tree(&Shape::default());
    let r = sysfs::set_governor(&roots, &strings(&["powersave"]), true).unwrap();
    assert!(r.dry_run);
    assert!(r.policies.iter().all(|w| w.now == "schedutil"));
    assert_eq!(get(&roots, 0, "scaling_governor"), "schedutil");
}

#[test]
fn frequencies_are_clamped_as_the_kernel_does() {
    let (_d, roots) = tree(&Shape::default());
    // Outside cpuinfo limits (800000–3600000 kHz): clamped, not refused.
    sysfs::set_frequency_limits(&roots, Some(100), Some(9_000_000), false).unwrap();
    assert_eq!(get(&roots, 0, "scaling_min_freq"), "800000");
    assert_eq!(get(&roots, 0, "scaling_max_freq"), "3600000");
    // A minimum above the maximum is lowered to it.
    sysfs::set_frequency_limits(&roots, None, Some(2_000_000), false).unwrap();
    let r = sysfs::set_frequency_limits(&roots, Some(3_000_000), None, false).unwrap();
    assert_eq!(get(&roots, 0, "scaling_min_freq"), "2000000");
    assert_eq!(r.policies[0].policy, "policy0/scaling_min_freq");
    assert_eq!(r.policies[0].previous, "800000");
    let e = sysfs::set_frequency_limits(&roots, None, None, false).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }));
}

#[test]
fn epp_rules() {
    let (_d, roots) = tree(&Shape::default());
    sysfs::set_epp(&roots, "balance_power", false).unwrap();
    assert_eq!(
        get(&roots, 3, "energy_performance_preference"),
        "balance_power"
    );
    // Not offered: EINVAL.
    let e = sysfs::set_epp(&roots, "turbo", false).unwrap_err();
    assert!(e.to_string().contains("EINVAL"), "{e}");
    // Under the performance governor only `performance` is allowed: EBUSY, nothing written.
    sysfs::set_governor(&roots, &strings(&["performance"]), false).unwrap();
    let e = sysfs::set_epp(&roots, "power", false).unwrap_err();
    assert!(
        matches!(e, Error::Busy { .. }) && e.to_string().contains("EBUSY"),
        "{e}"
    );
    assert_eq!(
        get(&roots, 0, "energy_performance_preference"),
        "balance_power"
    );
    sysfs::set_epp(&roots, "performance", false).unwrap();
    // A driver without EPP.
    let (_d2, no_epp) = tree(&Shape {
        epps: vec![],
        ..Default::default()
    });
    let e = sysfs::set_epp(&no_epp, "power", false).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn a_file_that_cannot_be_written_is_named() {
    let (_d, roots) = tree(&Shape::default());
    // Tests may run as root, whom file modes do not stop; a directory where the file should be
    // fails the same way (open for writing refused) and exercises the same path.
    let file = policy_file(&roots, 1, "scaling_governor");
    fs::remove_file(&file).unwrap();
    fs::create_dir(&file).unwrap();
    let e = sysfs::set_governor(&roots, &strings(&["powersave"]), false).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert!(
        e.to_string().contains("policy1/scaling_governor"),
        "names the file: {e}"
    );
}

#[test]
fn no_cpufreq_no_rapl() {
    let dir = tempfile::tempdir().unwrap();
    let roots = Roots {
        sys: dir.path().join("sys"),
        proc: dir.path().join("proc"),
    };
    let info = sysfs::node_info(&roots, "bare");
    assert!(!info.cpufreq_available && !info.rapl_available);
    assert!(matches!(
        sysfs::set_governor(&roots, &strings(&["powersave"]), false),
        Err(Error::Unsupported { .. })
    ));
    assert!(matches!(
        sysfs::rapl_sample(&roots),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn rapl_and_proc_stat_are_read() {
    let (_d, roots) = tree(&Shape::default());
    let z = roots.sys.join("class/powercap/intel-rapl:0");
    fs::write(z.join("energy_uj"), "262143328000\n").unwrap();
    let s = sysfs::rapl_sample(&roots).unwrap();
    assert_eq!(
        s,
        vec![("package-0".to_string(), 262_143_328_000, 262_143_328_850)]
    );
    // The counter wrapped past its range: 850 + 150 µJ.
    assert_eq!(sysfs::energy_delta_uj(s[0].1, 150, s[0].2), 1000);
    fs::write(
        roots.proc.join("stat"),
        "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n",
    )
    .unwrap();
    assert_eq!(sysfs::proc_stat(&roots).unwrap(), (200, 1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_set_governor_calls_do_not_interleave() {
    let (_d, roots) = tree(&Shape {
        cpus: 32,
        ..Default::default()
    });
    let probe = Probe::new(roots.clone(), "n1".into());
    let mut calls = Vec::new();
    for i in 0..40 {
        let probe = probe.clone();
        let governor = ["powersave", "performance", "schedutil"][i % 3].to_string();
        calls.push(tokio::spawn(async move {
            let args = kilter::probe::server::SetGovernorArgs {
                governor,
                fallback: vec![],
                dry_run: false,
            };
            probe.set_governor(Parameters(args)).await
        }));
    }
    for c in calls {
        let r = c.await.unwrap().unwrap().0;
        // No other writer got between this call's writes and its read-backs.
        assert!(r.policies.iter().all(|w| w.now == r.governor), "{r:?}");
        // Each call saw one governor on every policy before it: no torn state.
        let first = &r.policies[0].previous;
        assert!(r.policies.iter().all(|w| &w.previous == first), "{r:?}");
    }
    let last: Vec<String> = (0..32)
        .map(|n| get(&roots, n, "scaling_governor"))
        .collect();
    assert!(last.iter().all(|g| g == &last[0]), "{last:?}");
}

/// `kilter probe serve` on a fake tree, on a free loopback port; killed on drop.
struct Served {
    child: Child,
    url: String,
    dir: Option<tempfile::TempDir>,
    roots: Roots,
}

impl Served {
    /// Kills the probe (SIGKILL: no goodbye) and hands back its tree.
    fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.take().unwrap()
    }

    fn listen(&self) -> String {
        self.url
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_string()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(token: &str) -> Served {
    serve_on(token, "127.0.0.1:0", "n1", tempfile::tempdir().unwrap())
}

/// `kilter probe serve` for node `node` on `listen`, its tree in `dir` (laid out if new).
fn serve_on(token: &str, listen: &str, node: &str, dir: tempfile::TempDir) -> Served {
    if !dir.path().join("sys").exists() {
        fake::lay_out(dir.path(), &Shape::default()).unwrap();
    }
    let roots = Roots {
        sys: dir.path().join("sys"),
        proc: dir.path().join("proc"),
    };
    let token_file = dir.path().join("token");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kilter"))
        .args(["probe", "serve", "--listen", listen, "--node-name", node])
        .arg("--sysfs-root")
        .arg(&roots.sys)
        .arg("--proc-root")
        .arg(&roots.proc)
        .arg("--token-file")
        .arg(&token_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Served {
        child,
        url,
        dir: Some(dir),
        roots,
    }
}

fn http(url: &str, token: Option<&str>, path: &str) -> u16 {
    // A bare HTTP/1.1 request, so the test needs no HTTP client library.
    use std::io::{Read, Write};
    let authority = url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .unwrap();
    let mut s = std::net::TcpStream::connect(authority).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"set_governor","arguments":{"governor":"performance"}}}"#;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let (method, extra) = if path == "/healthz" {
        ("GET", String::new())
    } else {
        (
            "POST",
            format!(
                "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
                body.len()
            ),
        )
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{auth}{extra}Connection: close\r\n\r\n{}",
        if method == "POST" { body } else { "" }
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_server_refuses_a_wrong_token_and_answers_health() {
    let s = serve("s3cret");
    assert_eq!(http(&s.url, None, "/healthz"), 200);
    assert_eq!(http(&s.url, None, "/mcp"), 401);
    assert_eq!(http(&s.url, Some("s3cre"), "/mcp"), 401);
    assert_eq!(http(&s.url, Some("s3cret-and-more"), "/mcp"), 401);
    assert_eq!(get(&s.roots, 0, "scaling_governor"), "schedutil");
}

#[test]
fn serve_needs_a_token_or_an_explicit_opt_out() {
    let out = Command::new(env!("CARGO_BIN_EXE_kilter"))
        .args(["probe", "serve", "--node-name", "n1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token-file is required"));
}

/// The official MCP Python SDK (`mcp` on PyPI) drives the probe: both handshakes, tools,
/// set_governor changing the files, a wrong token refused. Needs `KILTER_TEST_PYTHON`, a
/// Python with `mcp` installed (`scripts/test` makes one); run with `--ignored probe::`.
#[test]
#[ignore = "needs KILTER_TEST_PYTHON with the mcp SDK (scripts/test sets it up)"]
fn the_python_mcp_sdk_drives_the_probe() {
    let python = std::env::var("KILTER_TEST_PYTHON").expect("KILTER_TEST_PYTHON is not set");
    let s = serve("t0ken");
    let script = crate::root().join("tests/probe/mcp_client.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&s.url)
        .arg("t0ken")
        .arg(&s.roots.sys)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("every scaling_governor file now holds powersave"));
    assert!(stdout.contains("a wrong token gets HTTP 401"));
    for n in 0..4 {
        assert_eq!(get(&s.roots, n, "scaling_governor"), "powersave");
    }
}

mod router {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use kilter::model::ProbeType;
    use kilter::probe::router::{CallError, Endpoint, Router, State};
    use serde_json::json;

    use super::{Served, serve_on};

    const INTERVAL: Duration = Duration::from_millis(200);

    fn endpoint(node: &str, url: &str, token: &str) -> Endpoint {
        Endpoint {
            id: format!("probe-{node}"),
            node: node.to_string(),
            probe_type: ProbeType::K8s,
            url: url.to_string(),
            token: Some(token.to_string()),
            timeout: Duration::from_secs(2),
            retries: 1,
            interval: INTERVAL,
            phi_threshold: 8.0,
        }
    }

    async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        start.elapsed()
    }

    /// 20 probe processes on loopback; 3 are killed: each is suspected within the time the
    /// detector predicts, nothing is routed to them, the planner skips their governor changes
    /// with the reason; restarted, they recover.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn twenty_probes_three_killed_suspected_routed_around_and_recovered() {
        let mut probes: Vec<Option<Served>> = (0..20)
            .map(|i| {
                Some(serve_on(
                    "tok",
                    "127.0.0.1:0",
                    &format!("node-{i}"),
                    tempfile::tempdir().unwrap(),
                ))
            })
            .collect();
        let endpoints = probes
            .iter()
            .enumerate()
            .map(|(i, p)| endpoint(&format!("node-{i}"), &p.as_ref().unwrap().url, "tok"))
            .collect();
        let router = Arc::new(Router::new(endpoints));
        let _beats = router.spawn_heartbeats();
        wait_until(
            "every probe healthy with heartbeats",
            Duration::from_secs(20),
            || {
                router
                    .status()
                    .iter()
                    .all(|s| s.state == State::Healthy && s.since_heartbeat_ms.is_some())
            },
        )
        .await;
        // Let the detectors learn the interval.
        tokio::time::sleep(INTERVAL * 10).await;
        let info = router.call("node-7", "node_info", json!({})).await.unwrap();
        assert_eq!(info["node_name"], "node-7");

        let predicted = Duration::from_secs_f64(
            super::router_phi_prediction(&endpoint("x", "http://x/mcp", "t")) / 1000.0,
        );
        let killed = [3usize, 8, 15];
        let mut trees = Vec::new();
        for &k in &killed {
            let p = probes[k].take().unwrap();
            let listen = p.listen();
            trees.push((k, listen, p.kill()));
        }
        let kill_time = Instant::now();
        let mut suspected_after = Vec::new();
        for &k in &killed {
            let node = format!("node-{k}");
            let after = wait_until("a killed probe suspected", Duration::from_secs(20), || {
                router.status_of_node(&node).unwrap().state == State::Suspected
            })
            .await;
            suspected_after.push(kill_time.elapsed().max(after));
        }
        println!(
            "predicted time to suspicion after the last heartbeat: {predicted:?}; suspected after the kill: {suspected_after:?}"
        );
        for t in &suspected_after {
            // The last heartbeat came at most one interval before the kill; allow a second for
            // a loaded machine (heartbeats late, intervals more spread).
            assert!(*t <= predicted + INTERVAL + Duration::from_secs(1), "{t:?}");
            // And not before the detector says so (less the time since the last heartbeat).
            assert!(*t >= predicted.saturating_sub(INTERVAL * 2), "{t:?}");
        }
        // The others stayed healthy.
        for s in router.status() {
            let was_killed = killed.iter().any(|k| s.node == format!("node-{k}"));
            assert_eq!(s.state == State::Suspected, was_killed, "{s:?}");
        }
        // Nothing is routed to a suspected probe: refused at once, with the reason.
        let start = Instant::now();
        let e = router
            .call("node-8", "node_info", json!({}))
            .await
            .unwrap_err();
        assert!(start.elapsed() < Duration::from_millis(100));
        let CallError::Unavailable(reason) = &e else {
            panic!("{e:?}")
        };
        assert!(
            reason.starts_with("probe for node node-8 unavailable (phi "),
            "{reason}"
        );
        // Broadcast reaches the 17 others.
        let all = router
            .broadcast(ProbeType::K8s, "node_info", json!({}))
            .await;
        assert_eq!(all.len(), 20);
        assert_eq!(all.iter().filter(|(_, r)| r.is_ok()).count(), 17);

        // The planner skips governor changes on the suspected nodes, with the router's reason.
        let mut snapshot = String::from("nodes:\n");
        for i in 0..20 {
            let node = format!("node-{i}");
            let s = router.status_of_node(&node).unwrap();
            let probe = match s.unavailable_reason() {
                None => "{ available: true }".to_string(),
                Some(r) => format!("{{ available: false, reason: {r:?} }}"),
            };
            snapshot.push_str(&format!(
                "  - {{ name: {node}, allocatable: {{ cpu: \"8\" }}, governor: schedutil, probe: {probe} }}\n"
            ));
        }
        let plan = kilter::plan::plan(
            &crate::plan::bundle(
                "policy g { mode: Enforce\n action { governor { name: powersave } } }",
            ),
            &crate::plan::state(&snapshot),
            kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap(),
        );
        assert_eq!(plan.actions.len(), 17);
        let skipped: Vec<_> = plan
            .skipped
            .iter()
            .filter(|s| s.cause == kilter::plan::SkipCause::ProbeUnavailable)
            .collect();
        assert_eq!(skipped.len(), 3);
        assert!(
            skipped
                .iter()
                .all(|s| s.reason.contains("unavailable (phi "))
        );

        // Restarted on the same address, they recover.
        for (k, listen, dir) in trees {
            probes[k] = Some(serve_on("tok", &listen, &format!("node-{k}"), dir));
        }
        let recovered = wait_until("restarted probes healthy", Duration::from_secs(20), || {
            router.status().iter().all(|s| s.state == State::Healthy)
        })
        .await;
        println!("recovered {recovered:?} after the restart");
        let info = router
            .call("node-15", "node_info", json!({}))
            .await
            .unwrap();
        assert_eq!(info["node_name"], "node-15");
    }

    /// Readings gathered from probes fill the snapshot: governor, governors offered,
    /// utilization and power (from counters that move while they are read), probe
    /// availability; kept for the TTL, then read again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn probe_readings_fill_the_snapshot() {
        let a = serve_on("m", "127.0.0.1:0", "a", tempfile::tempdir().unwrap());
        let b = serve_on("m", "127.0.0.1:0", "b", tempfile::tempdir().unwrap());
        super::set(&b.roots, 0, "scaling_governor", "powersave");
        super::set(&b.roots, 1, "scaling_governor", "powersave");
        super::set(&b.roots, 2, "scaling_governor", "powersave");
        super::set(&b.roots, 3, "scaling_governor", "powersave");
        // Node a burns 10 W and half its CPU time while it is read.
        let (rapl, stat) = (
            a.roots.sys.join("class/powercap/intel-rapl:0/energy_uj"),
            a.roots.proc.join("stat"),
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let counters = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let start = Instant::now();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let ms = start.elapsed().as_millis() as u64;
                    // 10 W = 10,000 µJ per ms; ticks: half busy.
                    // Replaced whole (write, then rename), as the kernel's files never read torn.
                    let put = |path: &std::path::Path, text: String| {
                        let tmp = path.with_extension("tmp");
                        std::fs::write(&tmp, text).unwrap();
                        std::fs::rename(&tmp, path).unwrap();
                    };
                    put(&rapl, format!("{}\n", ms * 10_000));
                    put(&stat, format!("cpu  {ms} 0 0 {ms} 0 0 0 0 0 0\n"));
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let router = Arc::new(Router::new(vec![
            endpoint("a", &a.url, "m"),
            endpoint("b", &b.url, "m"),
        ]));
        let _beats = router.spawn_heartbeats();
        let agg =
            kilter::probe::metrics::Aggregator::new(Arc::clone(&router), Duration::from_secs(60));
        agg.refresh().await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        counters.join().unwrap();
        let mut state = crate::plan::state(
            "nodes:\n  - { name: a, allocatable: { cpu: \"4\" } }\n  - { name: b, allocatable: { cpu: \"4\" } }\n  - { name: c, allocatable: { cpu: \"4\" } }\n",
        );
        agg.fill(&mut state);
        let (na, nb, nc) = (&state.nodes[0], &state.nodes[1], &state.nodes[2]);
        assert_eq!(na.governor.as_deref(), Some("schedutil"));
        assert_eq!(nb.governor.as_deref(), Some("powersave"));
        assert_eq!(
            na.available_governors,
            ["performance", "powersave", "schedutil"]
        );
        assert!((5.0..20.0).contains(&na.power_watts), "{}", na.power_watts);
        assert!(
            (0.3..0.7).contains(&na.cpu_utilization),
            "{}",
            na.cpu_utilization
        );
        assert_eq!(nb.power_watts, 0.0, "b's counters do not move");
        assert!(na.probe.as_ref().unwrap().available);
        let c_probe = nc.probe.as_ref().unwrap();
        assert!(!c_probe.available);
        assert_eq!(c_probe.reason.as_deref(), Some("no probe for node c"));
        // Within the TTL nothing is read again: a changed file shows only after it.
        super::set(&a.roots, 0, "scaling_governor", "performance");
        agg.refresh().await;
        assert_eq!(agg.get("a").unwrap().governor.as_deref(), Some("schedutil"));
        let short = kilter::probe::metrics::Aggregator::new(Arc::clone(&router), Duration::ZERO);
        short.refresh().await;
        assert_eq!(short.get("a"), None, "a zero TTL keeps nothing fresh");
        drop((a, b));
    }

    /// A probe that accepts connections and never answers: the call gives up after
    /// `retries + 1` attempts, within timeout × (retries + 1) plus the backoff ceiling; then
    /// the breaker is open and calls are refused at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retries_are_bounded_and_the_breaker_opens() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in listener.incoming().flatten() {
                held.push(c);
            }
        });
        let mut ep = endpoint("silent", &format!("http://{addr}/mcp"), "tok");
        ep.timeout = Duration::from_millis(300);
        ep.retries = 2;
        // No heartbeats run here: a long interval keeps phi from suspecting it meanwhile.
        ep.interval = Duration::from_secs(10);
        let router = Router::new(vec![ep.clone()]);
        let bound = router.retry.max_wait(ep.timeout, ep.retries);
        let start = Instant::now();
        let e = router
            .call("silent", "node_info", json!({}))
            .await
            .unwrap_err();
        let took = start.elapsed();
        println!("gave up after {took:?}; bound {bound:?}");
        let CallError::Failed { attempts, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(attempts, 3);
        assert!(
            took >= ep.timeout * 3,
            "{took:?}: fewer attempts than promised"
        );
        assert!(
            took <= bound + Duration::from_millis(500),
            "{took:?} > {bound:?}"
        );
        // Three failures opened the breaker: refused without a network round.
        let start = Instant::now();
        let e = router
            .call("silent", "node_info", json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CallError::Unavailable(r) if r.contains("circuit open")),
            "{e:?}"
        );
        assert!(start.elapsed() < Duration::from_millis(50));
        assert_eq!(router.status()[0].state, State::Open);
        assert!(matches!(
            router.call("elsewhere", "node_info", json!({})).await,
            Err(CallError::NoProbe(_))
        ));
    }
}

/// The detector's predicted time to suspicion for an endpoint's settings, in milliseconds.
pub fn router_phi_prediction(ep: &kilter::probe::router::Endpoint) -> f64 {
    ep.phi_config()
        .time_to_suspect_ms(ep.interval.as_secs_f64() * 1000.0)
}

#[test]
fn probe_status_and_call_from_the_command_line() {
    let s = serve("cl1");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("token"), "cl1\n").unwrap();
    fs::write(
        dir.path().join("probes.yaml"),
        format!(
            "apiVersion: kilter.dev/v1alpha1\nkind: Probe\nmetadata: {{ name: lab }}\nspec:\n  type: HostSystem\n  endpoint: {}\n  nodeName: n1\n  health: {{ interval: 100ms }}\n",
            s.url
        ),
    )
    .unwrap();
    let kilter = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kilter"))
            .args(args)
            .arg(dir.path().join("probes.yaml"))
            .arg("--token-file")
            .arg(dir.path().join("token"))
            .output()
            .unwrap()
    };
    let out = kilter(&["probe", "status", "--for", "500ms"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("lab") && text.contains("healthy"), "{text}");
    // Without --enforce a write is a dry run: it shows what would change, changes nothing.
    let out = kilter(&[
        "probe",
        "call",
        "n1",
        "set_governor",
        "--args",
        r#"{"governor":"performance"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["policies"][0]["written"], "performance");
    assert_eq!(get(&s.roots, 2, "scaling_governor"), "schedutil");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--enforce"));
    let out = kilter(&[
        "probe",
        "call",
        "n1",
        "set_governor",
        "--enforce",
        "--args",
        r#"{"governor":"performance"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["governor"], "performance");
    assert_eq!(get(&s.roots, 2, "scaling_governor"), "performance");
    // A tool error is a finding (exit 1) with the probe's message.
    let out = kilter(&[
        "probe",
        "call",
        "n1",
        "set_epp",
        "--args",
        r#"{"preference":"power"}"#,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("EBUSY"));
    let out = kilter(&["probe", "call", "n9", "node_info"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no probe for node n9"));
}
