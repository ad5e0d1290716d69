//! A simulation's report: a table for people, JSON for CI, and a self-contained HTML page
//! with SVG plots (no script, no network: it opens anywhere).

use std::fmt::Write;

use plotters::prelude::*;

use super::run::{Report, Series};

pub fn render_json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("a report serialises");
    s.push('\n');
    s
}

pub fn render_human(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Simulated {} → {} ({} cycles of {}s)\n",
        r.from, r.to, r.cycles, r.step_seconds
    );
    let _ = writeln!(o, "Energy: {:.1} kWh", r.energy_kwh);
    let _ = writeln!(
        o,
        "  {:<16} {:>6} {:>10} {:>10} {:>10}",
        "pool", "nodes", "kWh", "mean W", "peak W"
    );
    for p in &r.pools {
        let _ = writeln!(
            o,
            "  {:<16} {:>6} {:>10.2} {:>10.1} {:>10.1}",
            p.pool, p.nodes, p.energy_kwh, p.mean_watts, p.peak_watts
        );
    }
    if !r.budgets.is_empty() {
        let _ = writeln!(o, "\nPower budgets:");
        let _ = writeln!(
            o,
            "  {:<16} {:>10} {:>10} {:>12} {:>12}",
            "budget", "max W", "peak W", "warning min", "critical min"
        );
        for b in &r.budgets {
            let _ = writeln!(
                o,
                "  {:<16} {:>10.0} {:>10.1} {:>12.0} {:>12.0}",
                b.budget, b.max_watts, b.peak_watts, b.warning_minutes, b.critical_minutes
            );
        }
    }
    let t = &r.throttling;
    let _ = writeln!(
        o,
        "\nThrottling: {:.0} core-seconds unserved; {:.2}% of pod-minutes throttled ({:.0} of {:.0})",
        t.core_seconds,
        t.share * 100.0,
        t.throttled_pod_minutes,
        t.pod_minutes
    );
    let _ = writeln!(
        o,
        "Pending: {:.0} pod-minutes, at most {} pods at once",
        r.pending.pod_minutes, r.pending.max_pods
    );
    let list = |m: &std::collections::BTreeMap<String, usize>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(o, "Actions applied: {}", list(&r.actions));
    let _ = writeln!(
        o,
        "Actions shown (DryRun policies): {}",
        list(&r.dry_run_actions)
    );
    let _ = writeln!(
        o,
        "Oscillations (an action undone within {} cycles): {}",
        r.oscillation_cycles, r.oscillations
    );
    for f in &r.fairness {
        let _ = writeln!(
            o,
            "Market fairness under budget {}: Jain's index {:.3}",
            f.budget, f.jain
        );
        for n in &f.namespaces {
            let _ = writeln!(
                o,
                "  {:<16} weight share {:>5.1}%  allocation share {:>5.1}%",
                n.namespace,
                n.weight_share * 100.0,
                n.allocation_share * 100.0
            );
        }
    }
    if let Some(f) = &r.forecast {
        let _ = writeln!(
            o,
            "Forecast error (MAPE): {:.1}% over {} forecasts checked",
            f.mape * 100.0,
            f.checked
        );
    }
    for w in &r.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Line<'a> = (String, &'a [f64], RGBColor, bool);

/// One line chart as SVG text: `lines` are (label, values, colour, dashed).
fn chart(
    title: &str,
    y_label: &str,
    hours: &[f64],
    lines: &[Line<'_>],
    marks: &[(f64, &str)],
) -> String {
    let mut svg = String::new();
    let x_max = hours.last().copied().unwrap_or(1.0).max(1.0);
    let y_max = lines
        .iter()
        .flat_map(|l| l.1.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    {
        let root = SVGBackend::with_string(&mut svg, (900, 320)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut c) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        else {
            return svg_error(title);
        };
        let _ = c
            .configure_mesh()
            .x_desc("hours from start")
            .y_desc(y_label)
            .light_line_style(RGBColor(235, 235, 235))
            .draw();
        for (label, values, color, dashed) in lines {
            let style = ShapeStyle::from(color).stroke_width(if *dashed { 1 } else { 2 });
            let points: Vec<(f64, f64)> =
                hours.iter().copied().zip(values.iter().copied()).collect();
            if let Ok(s) = c.draw_series(LineSeries::new(points, style)) {
                let color = *color;
                s.label(label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
            }
        }
        for (h, kind) in marks {
            let color = match *kind {
                "set_governor" => COLORS[0],
                "cordon" | "uncordon" => COLORS[1],
                "drain" => COLORS[3],
                _ => COLORS[2],
            };
            let _ = c.draw_series(std::iter::once(Circle::new(
                (*h, y_max * 0.03),
                2,
                color.filled(),
            )));
        }
        if !lines.is_empty() {
            let _ = c
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw();
        }
        let _ = root.present();
    }
    svg
}

fn svg_error(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"40\"><text x=\"10\" y=\"25\">{}: no data</text></svg>",
        escape(title)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The plots of a report, as SVG documents.
pub fn plots(s: &Series) -> Vec<String> {
    let mut out = Vec::new();
    for (k, (name, max, warn, crit, watts)) in s.budget_watts.iter().enumerate() {
        let n = watts.len();
        let flat = |v: f64| vec![v; n];
        let (maxv, warnv, critv) = (flat(*max), warn.map(flat), crit.map(flat));
        let mut lines: Vec<Line<'_>> = vec![(format!("{name} watts"), watts, COLORS[k % 6], false)];
        lines.push(("max".into(), &maxv, RGBColor(0, 0, 0), true));
        if let Some(w) = &warnv {
            lines.push(("warning".into(), w, RGBColor(230, 160, 0), true));
        }
        if let Some(c) = &critv {
            lines.push(("critical".into(), c, RGBColor(200, 0, 0), true));
        }
        out.push(chart(
            &format!("Power of budget {name} against its limits"),
            "watts",
            &s.hours,
            &lines,
            &[],
        ));
    }
    let pools: Vec<Line<'_>> = s
        .pool_watts
        .iter()
        .enumerate()
        .map(|(k, (p, w))| (format!("pool {p}"), w.as_slice(), COLORS[k % 6], false))
        .collect();
    out.push(chart("Watts per pool", "watts", &s.hours, &pools, &[]));
    let mut wl: Vec<Line<'_>> = Vec::new();
    for (k, (w, limits, used)) in s.workloads.iter().enumerate() {
        wl.push((format!("{w} limits"), limits, COLORS[k % 6], true));
        wl.push((format!("{w} used"), used, COLORS[k % 6], false));
    }
    out.push(chart(
        "CPU allocation (limits) and usage of the top workloads",
        "cores",
        &s.hours,
        &wl,
        &[],
    ));
    out.push(chart(
        "Throttling and pending pods (dots: actions applied)",
        "cores unserved / pods",
        &s.hours,
        &[
            (
                "cores unserved".into(),
                &s.throttled_cores,
                COLORS[3],
                false,
            ),
            ("pending pods".into(), &s.pending_pods, COLORS[4], false),
        ],
        &s.actions,
    ));
    out
}

/// A self-contained HTML page: the summary, the plots inline, the JSON at the end.
pub fn render_html(r: &Report, title: &str) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em;max-width:960px}}pre{{background:#f6f6f6;padding:1em;overflow:auto}}\
         figure{{margin:1.5em 0}}</style></head><body>\n<h1>{t}</h1>\n<h2>Summary</h2>\n<pre>{s}</pre>\n<h2>Plots</h2>\n",
        t = escape(title),
        s = escape(&render_human(r))
    );
    for svg in plots(&r.series) {
        let _ = writeln!(o, "<figure>{svg}</figure>");
    }
    let _ = write!(
        o,
        "<h2>Report (JSON)</h2>\n<pre>{}</pre>\n</body></html>\n",
        escape(&render_json(r))
    );
    o
}
