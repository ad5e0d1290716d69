//! K010 `probe-endpoint`: a probe needs exactly one of `endpoint` and `daemonSet`.

use crate::check::{Rule, Scope};
use crate::model::Object;
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::PROBE_ENDPOINT,
    name: "probe-endpoint",
    summary: "A probe must have an endpoint or a daemonSet, not both.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks: a Probe sets either `endpoint` (one static host, which then also needs
`nodeName`) or `daemonSet` (one agent per node), never both and never neither. An endpoint must
be an `http://` or `https://` URL with a host.

Why: kilter must know, for every node, the one place that reads its metrics and sets its
governor. Two sources for one node would race.

Example:

    spec:
      type: VmSystem
      endpoint: http://vsf-worker-1:8765/mcp
      daemonSet: { namespace: kilter-system, ... }   # choose one
"#,
};

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    let Object::Probe(p) = obj else { return };
    let s = &p.spec;
    match (&s.endpoint, &s.daemon_set) {
        (Some(_), Some(_)) => {
            let d = doc
                .error(crate::syntax::diag::code::PROBE_ENDPOINT, "spec.daemonSet", "a probe has either an `endpoint` or a `daemonSet`, not both")
                .with_related(doc.span("spec.endpoint"), "endpoint set here")
                .with_help("use `endpoint` (with `nodeName`) for one host, `daemonSet` for one agent per node");
            out.push(Diagnostic {
                span: doc.key_span("spec.daemonSet"),
                ..d
            });
        }
        (None, None) => out.push(
            doc.error(
                crate::syntax::diag::code::PROBE_ENDPOINT,
                "spec",
                "the probe has neither an `endpoint` nor a `daemonSet`",
            )
            .with_help("add `endpoint` (with `nodeName`) or `daemonSet`"),
        ),
        (Some(url), None) => {
            if let Some(why) = bad_url(url) {
                out.push(doc.error(
                    crate::syntax::diag::code::PROBE_ENDPOINT,
                    "spec.endpoint",
                    format!("`{url}` is not a probe URL: {why}"),
                ));
            }
            if s.node_name.is_none() {
                out.push(
                    doc.error(
                        crate::syntax::diag::code::PROBE_ENDPOINT,
                        "spec.endpoint",
                        "a static endpoint needs `nodeName`, the node it serves",
                    )
                    .with_help("add `nodeName: <the Kubernetes node name>`"),
                );
            }
        }
        (None, Some(_)) => {
            if s.node_name.is_some() {
                out.push(
                    doc.error(
                        crate::syntax::diag::code::PROBE_ENDPOINT,
                        "spec.nodeName",
                        "`nodeName` goes with a static `endpoint`, not a `daemonSet`",
                    )
                    .with_help("remove `nodeName`: the DaemonSet covers every node it runs on"),
                );
            }
        }
    }
}

fn bad_url(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let Some(rest) = rest else {
        return Some("it must start with http:// or https://");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Some("it has no host");
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Some("its port is not a number between 1 and 65535");
    }
    if url.chars().any(char::is_whitespace) {
        return Some("it contains white space");
    }
    None
}
