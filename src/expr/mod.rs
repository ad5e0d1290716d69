//! CEL in policies: compile with guards (no panic, bounded size) and check the variables
//! and fields an expression reads against what its field may use (API.md, "CEL variables").

use cel::common::ast::{EntryExpr, Expr, SourceInfo};

use crate::syntax::de::one_of;

pub mod fast;

/// The most characters and the deepest nesting an expression may have; keeps the parser
/// (and later the evaluator) bounded on hostile input.
pub const MAX_LEN: usize = 4096;
pub const MAX_DEPTH: usize = 48;

/// A problem inside an expression, at a character offset into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub offset: usize,
    pub len: usize,
    pub message: String,
    pub help: Option<String>,
}

/// The shape of a CEL variable.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// A scalar: no fields below it.
    Leaf,
    /// A map with arbitrary keys (labels).
    Map,
    Obj(&'static [(&'static str, Shape)]),
}

use Shape::{Leaf, Map, Obj};

const UTIL: Shape = Obj(&[("utilization", Leaf)]);
const NODE_CPU: Shape = Obj(&[("utilization", Leaf), ("forecast", Leaf)]);
const USE: Shape = Obj(&[("usage", Leaf), ("request", Leaf), ("limit", Leaf)]);
const POD_CPU: Shape = Obj(&[
    ("usage", Leaf),
    ("request", Leaf),
    ("limit", Leaf),
    ("forecast", Leaf),
]);

/// Every variable a kilter CEL expression may read, with its fields.
pub const VARIABLES: &[(&str, Shape)] = &[
    (
        "cluster",
        Obj(&[
            ("cpu", UTIL),
            ("memory", UTIL),
            ("power", Obj(&[("watts", Leaf)])),
            (
                "nodes",
                Obj(&[
                    ("total", Leaf),
                    ("ready", Leaf),
                    ("schedulable", Leaf),
                    ("cordoned", Leaf),
                ]),
            ),
        ]),
    ),
    (
        "node",
        Obj(&[
            ("name", Leaf),
            ("labels", Map),
            ("cpu", NODE_CPU),
            ("memory", UTIL),
            ("governor", Leaf),
            ("powerWatts", Leaf),
            ("pods", Leaf),
        ]),
    ),
    (
        "pod",
        Obj(&[
            ("namespace", Leaf),
            ("name", Leaf),
            ("labels", Map),
            ("cpu", POD_CPU),
            ("memory", USE),
        ]),
    ),
    (
        "now",
        Obj(&[
            ("timestamp", Leaf),
            ("hour", Leaf),
            ("minute", Leaf),
            ("weekday", Leaf),
        ]),
    ),
    (
        "budget",
        Obj(&[
            (
                "power",
                Obj(&[("watts", Leaf), ("maxWatts", Leaf), ("percent", Leaf)]),
            ),
            (
                "disruption",
                Obj(&[
                    ("unavailable", Leaf),
                    ("maxUnavailable", Leaf),
                    ("drainsLastHour", Leaf),
                ]),
            ),
        ]),
    ),
];

/// Which variables each CEL field may use.
pub fn allowed_variables(field: &str) -> &'static [&'static str] {
    match field {
        "when" => &["cluster", "now", "budget"],
        "nodeFilter" => &["node", "cluster", "now", "budget"],
        "demand" => &["pod", "node", "cluster", "now"],
        _ => &[],
    }
}

/// A parsed expression, with where each of its nodes was written.
#[derive(Debug)]
pub struct Program {
    expression: cel::IdedExpr,
    source_info: SourceInfo,
}

impl Program {
    pub fn expression(&self) -> &cel::IdedExpr {
        &self.expression
    }

    pub fn source_info(&self) -> &SourceInfo {
        &self.source_info
    }

    pub fn execute(&self, ctx: &cel::Context<'_, '_>) -> cel::ResolveResult {
        cel::Value::resolve(&self.expression, ctx)
    }
}

/// How many times the parser may recover from a syntax error before it stops. Recovery is
/// most of the parser's time on broken text, and past the first error what it reports is
/// mostly consequences of that one.
const RECOVERY_LIMIT: u32 = 1;

/// What parsing an expression gave; shared, since lint and the bundle read the same text.
type Parsed = Result<std::sync::Arc<Program>, Vec<Finding>>;

/// How many parsed expressions the process keeps; past it the cache starts over.
const PARSED_LIMIT: usize = 4096;

/// Compiles an expression, turning every failure (including a parser panic) into findings.
/// Parsing is the costly part of CEL, and lint, the bundle and every plan of one revision
/// read the same text, so results are remembered (per process, bounded).
pub fn compile(src: &str) -> Parsed {
    static PARSED: std::sync::LazyLock<std::sync::Mutex<foldhash::HashMap<String, Parsed>>> =
        std::sync::LazyLock::new(Default::default);
    let cached = |m: &foldhash::HashMap<String, Parsed>| m.get(src).cloned();
    if let Some(hit) = PARSED.lock().ok().and_then(|m| cached(&m)) {
        return hit;
    }
    let parsed = parse(src).map(std::sync::Arc::new);
    if let Ok(mut m) = PARSED.lock() {
        if m.len() >= PARSED_LIMIT {
            m.clear();
        }
        m.insert(src.to_string(), parsed.clone());
    }
    parsed
}

fn parse(src: &str) -> Result<Program, Vec<Finding>> {
    let chars = src.chars().count();
    if chars > MAX_LEN {
        return Err(vec![Finding {
            offset: 0,
            len: 1,
            message: format!("expression is {chars} characters long; the limit is {MAX_LEN}"),
            help: None,
        }]);
    }
    if src.trim().is_empty() {
        return Err(vec![Finding {
            offset: 0,
            len: 0,
            message: "empty CEL expression".into(),
            help: None,
        }]);
    }
    let mut depth = 0usize;
    for (i, c) in src.chars().enumerate() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(vec![Finding {
                        offset: i,
                        len: 1,
                        message: format!("expression nests deeper than {MAX_DEPTH} levels"),
                        help: None,
                    }]);
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let owned = src.to_string();
    let result = std::panic::catch_unwind(move || {
        cel::parser::Parser::new()
            .error_recovery_limit(RECOVERY_LIMIT)
            .parse_with_source_info(&owned)
    });
    match result {
        Ok(Ok((expression, source_info))) => Ok(Program {
            expression,
            source_info,
        }),
        Ok(Err(errs)) => {
            let finding = |e: &cel::ParseError, message: String| Finding {
                offset: offset_of(src, e.pos.0, e.pos.1),
                len: 1,
                message,
                help: None,
            };
            // The parser's note that it gave up is not the author's mistake: said only when
            // nothing else was.
            let gave_up = |e: &&cel::ParseError| e.msg.contains("recovery attempt limit");
            let mut out: Vec<Finding> = (errs.errors.iter())
                .filter(|e| !gave_up(e))
                .map(|e| finding(e, tidy(&e.msg)))
                .collect();
            if out.is_empty() {
                out.extend(
                    errs.errors
                        .first()
                        .map(|e| finding(e, "invalid CEL syntax".into())),
                );
            }
            Err(out)
        }
        Err(_) => Err(vec![Finding {
            offset: 0,
            len: 1,
            message: "CEL expression could not be parsed".into(),
            help: None,
        }]),
    }
}

/// Shortens the parser's messages: no token lists, `<EOF>` said in words.
fn tidy(msg: &str) -> String {
    let m = msg.trim();
    let m = m.strip_prefix("Syntax error: ").unwrap_or(m);
    let m = m.split(" expecting ").next().unwrap_or(m);
    let m = m
        .replace("'<EOF>'", "end of expression")
        .replace("mismatched input ", "unexpected ")
        .replace("extraneous input ", "unexpected ");
    if m.is_empty() {
        "invalid CEL syntax".into()
    } else {
        m
    }
}

/// Character offset of a 1-based (line, column) position in `src`, clamped.
fn offset_of(src: &str, line: isize, col: isize) -> usize {
    let line = line.max(1) as usize;
    let col = col.max(1) as usize;
    let mut off = 0;
    for (i, l) in src.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return off + (col - 1).min(l.chars().count());
        }
        off += l.chars().count();
    }
    off.min(src.chars().count())
}

/// Checks every variable and field path the program reads against the field's allowed set.
pub fn check_references(program: &Program, field: &str) -> Vec<Finding> {
    let allowed = allowed_variables(field);
    let mut out = Vec::new();
    let mut bound = Vec::new();
    walk(program, program.expression(), allowed, &mut bound, &mut out);
    out.sort_by_key(|f| f.offset);
    out.dedup();
    out
}

/// Character offset and length of expression `id` (the parser counts bytes; diagnostics and
/// editors count characters, which differ after non-ASCII text).
fn position(p: &Program, id: u64) -> (usize, usize) {
    let src = &p.source_info().source;
    let chars = |b: usize| {
        let b = b.min(src.len());
        // A byte offset inside a character counts that character.
        src.char_indices().take_while(|(i, _)| *i < b).count()
    };
    p.source_info()
        .offset_for(id)
        .map(|(s, e)| {
            let (s, e) = (s as usize, e as usize);
            let (cs, ce) = (chars(s), chars(e));
            (cs, ce.saturating_sub(cs).max(1))
        })
        .unwrap_or((0, 1))
}

fn walk(
    p: &Program,
    e: &cel::IdedExpr,
    allowed: &[&str],
    bound: &mut Vec<String>,
    out: &mut Vec<Finding>,
) {
    // A select chain rooted at an identifier: `node.cpu.utilization`.
    if let Some((root, root_id, path, ids)) = chain(e) {
        if !bound.iter().any(|b| b == root) {
            check_path(p, root, root_id, &path, &ids, allowed, out);
        }
        return;
    }
    match &e.expr {
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                walk(p, t, allowed, bound, out);
            }
            for a in &c.args {
                walk(p, a, allowed, bound, out);
            }
        }
        Expr::Comprehension(c) => {
            walk(p, &c.iter_range, allowed, bound, out);
            walk(p, &c.accu_init, allowed, bound, out);
            let n = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                bound.push(v.clone());
            }
            bound.push(c.accu_var.clone());
            walk(p, &c.loop_cond, allowed, bound, out);
            walk(p, &c.loop_step, allowed, bound, out);
            walk(p, &c.result, allowed, bound, out);
            bound.truncate(n);
        }
        Expr::List(l) => {
            for x in &l.elements {
                walk(p, x, allowed, bound, out);
            }
        }
        Expr::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    walk(p, &me.key, allowed, bound, out);
                    walk(p, &me.value, allowed, bound, out);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    walk(p, &f.value, allowed, bound, out);
                }
            }
        }
        Expr::Select(s) => walk(p, &s.operand, allowed, bound, out),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// The static type of a CEL expression, as far as lint can know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Num,
    Str,
    Bytes,
    Null,
    List,
    Map,
    /// Not known before evaluation (macro variables, timestamps, functions kilter does not know).
    Dyn,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "a boolean",
            Ty::Num => "a number",
            Ty::Str => "a string",
            Ty::Bytes => "bytes",
            Ty::Null => "null",
            Ty::List => "a list",
            Ty::Map => "a map",
            Ty::Dyn => "a value",
        }
    }

    fn known(self) -> bool {
        self != Ty::Dyn
    }
}

/// The type of a variable path (`node.cpu.utilization`), from the shapes above.
fn path_type(root: &str, path: &[&str]) -> Ty {
    let Some(&(_, mut shape)) = VARIABLES.iter().find(|(n, _)| *n == root) else {
        return Ty::Dyn;
    };
    let mut last = root;
    for (k, field) in path.iter().enumerate() {
        match shape {
            Obj(fields) => match fields.iter().find(|(n, _)| n == field) {
                Some((_, s)) => {
                    shape = *s;
                    last = field;
                }
                None => return Ty::Dyn,
            },
            // `labels.team`: a label value.
            Map => {
                return if k + 1 == path.len() {
                    Ty::Str
                } else {
                    Ty::Dyn
                };
            }
            Leaf => return Ty::Dyn,
        }
    }
    match shape {
        Map => Ty::Map,
        Obj(_) => Ty::Dyn,
        Leaf => match last {
            "name" | "namespace" | "governor" => Ty::Str,
            "timestamp" => Ty::Dyn,
            _ => Ty::Num,
        },
    }
}

/// Checks the types an expression's operators are given, and that the whole is what its field
/// needs (`when` and `nodeFilter` a boolean, `demand` a number in 0–1).
pub fn check_types(program: &Program, field: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut bound = Vec::new();
    let root = program.expression();
    let t = ty(program, root, &mut bound, &mut out);
    let (offset, len) = (0, program.source_info().source.chars().count().max(1));
    let want = match field {
        "when" | "nodeFilter" => Some(Ty::Bool),
        "demand" => Some(Ty::Num),
        _ => None,
    };
    if let Some(w) = want
        && t.known()
        && t != w
    {
        out.push(Finding {
            offset,
            len,
            message: format!(
                "`{field}` must be {}; this expression is {}",
                w.name(),
                t.name()
            ),
            help: Some(match w {
                Ty::Bool => "compare it, e.g. `node.cpu.utilization < 0.5`".into(),
                _ => "compute a number between 0 and 1".into(),
            }),
        });
    }
    if field == "demand"
        && let Expr::Literal(l) = &root.expr
        && let Some(v) = literal_number(l)
        && !(0.0..=1.0).contains(&v)
    {
        out.push(Finding {
            offset,
            len,
            message: format!("`demand` is a share between 0 and 1; {v} is not"),
            help: None,
        });
    }
    out.sort_by_key(|f| f.offset);
    out.dedup();
    out
}

fn literal_number(l: &cel::common::ast::LiteralValue) -> Option<f64> {
    use cel::common::ast::LiteralValue as L;
    match l {
        L::Int(i) => Some(*i.inner() as f64),
        L::UInt(u) => Some(*u.inner() as f64),
        L::Double(d) => Some(*d.inner()),
        _ => None,
    }
}

fn ty(p: &Program, e: &cel::IdedExpr, bound: &mut Vec<String>, out: &mut Vec<Finding>) -> Ty {
    use cel::common::ast::LiteralValue as L;
    use cel::common::ast::operators as op;
    if let Some((root, _, path, _)) = chain(e) {
        return if bound.iter().any(|b| b == root) {
            Ty::Dyn
        } else {
            path_type(root, &path)
        };
    }
    match &e.expr {
        Expr::Literal(l) => match l {
            L::Boolean(_) => Ty::Bool,
            L::Int(_) | L::UInt(_) | L::Double(_) => Ty::Num,
            L::String(_) => Ty::Str,
            L::Bytes(_) => Ty::Bytes,
            L::Null => Ty::Null,
        },
        Expr::List(l) => {
            for x in &l.elements {
                ty(p, x, bound, out);
            }
            Ty::List
        }
        Expr::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    ty(p, &me.key, bound, out);
                    ty(p, &me.value, bound, out);
                }
            }
            Ty::Map
        }
        Expr::Comprehension(c) => {
            ty(p, &c.iter_range, bound, out);
            ty(p, &c.accu_init, bound, out);
            let n = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                bound.push(v.clone());
            }
            bound.push(c.accu_var.clone());
            ty(p, &c.loop_cond, bound, out);
            ty(p, &c.loop_step, bound, out);
            let r = ty(p, &c.result, bound, out);
            bound.truncate(n);
            r
        }
        Expr::Call(c) => {
            let mut args: Vec<(Ty, u64)> = Vec::new();
            if let Some(t) = &c.target {
                args.push((ty(p, t, bound, out), t.id));
            }
            for a in &c.args {
                args.push((ty(p, a, bound, out), a.id));
            }
            let f = c.func_name.as_str();
            let mut out_sink = Vec::new();
            let result = match f {
                op::LOGICAL_AND | op::LOGICAL_OR | op::LOGICAL_NOT => {
                    let sym = match f {
                        op::LOGICAL_AND => "&&",
                        op::LOGICAL_OR => "||",
                        _ => "!",
                    };
                    each_must_be(
                        &args,
                        Ty::Bool,
                        &format!("`{sym}` needs booleans"),
                        &mut out_sink,
                    );
                    Ty::Bool
                }
                op::LESS | op::LESS_EQUALS | op::GREATER | op::GREATER_EQUALS => {
                    if let [(a, _), (b, _)] = args[..]
                        && a.known()
                        && b.known()
                        && (a != b || !matches!(a, Ty::Num | Ty::Str | Ty::Bytes))
                    {
                        out_sink
                            .push((e.id, format!("cannot order {} and {}", a.name(), b.name())));
                    }
                    Ty::Bool
                }
                op::EQUALS
                | op::NOT_EQUALS
                | op::IN
                | "has"
                | "matches"
                | "startsWith"
                | "endsWith"
                | "contains"
                | op::ALL
                | op::EXISTS
                | op::EXISTS_ONE => Ty::Bool,
                op::ADD => match args[..] {
                    [(a, _), (b, _)] if a.known() && b.known() => {
                        if a == b && matches!(a, Ty::Num | Ty::Str | Ty::List | Ty::Bytes) {
                            a
                        } else {
                            out_sink
                                .push((e.id, format!("cannot add {} and {}", a.name(), b.name())));
                            Ty::Dyn
                        }
                    }
                    [(a, _), (b, _)] if a == Ty::Num || b == Ty::Num => Ty::Num,
                    _ => Ty::Dyn,
                },
                op::SUBSTRACT | op::MULTIPLY | op::DIVIDE | op::MODULO | op::NEGATE => {
                    each_must_be(&args, Ty::Num, "arithmetic needs numbers", &mut out_sink);
                    Ty::Num
                }
                op::CONDITIONAL => {
                    if let Some(&(t, id)) = args.first()
                        && t.known()
                        && t != Ty::Bool
                    {
                        out_sink.push((
                            id,
                            format!(
                                "the condition of `?:` must be a boolean; this is {}",
                                t.name()
                            ),
                        ));
                    }
                    match args[..] {
                        [_, (a, _), (b, _)] if a == b => a,
                        _ => Ty::Dyn,
                    }
                }
                op::INDEX => match args.first() {
                    Some((Ty::Map, _)) if chain_is_labels(c) => Ty::Str,
                    _ => Ty::Dyn,
                },
                "size" | "int" | "uint" | "double" | "min" | "max" => Ty::Num,
                "string" => Ty::Str,
                _ => Ty::Dyn,
            };
            for (id, message) in out_sink {
                let (offset, len) = position(p, id);
                out.push(Finding {
                    offset,
                    len,
                    message,
                    help: None,
                });
            }
            result
        }
        Expr::Select(s) => {
            ty(p, &s.operand, bound, out);
            Ty::Dyn
        }
        Expr::Ident(_) | Expr::Struct(_) | Expr::Unspecified => Ty::Dyn,
    }
}

/// Reports each operand whose type is known and is not `want`.
fn each_must_be(args: &[(Ty, u64)], want: Ty, what: &str, out: &mut Vec<(u64, String)>) {
    for &(t, id) in args {
        if t.known() && t != want {
            out.push((id, format!("{what}; this is {}", t.name())));
        }
    }
}

/// Whether an index call reads a `labels` map (its values are strings).
fn chain_is_labels(c: &cel::common::ast::CallExpr) -> bool {
    c.args
        .first()
        .and_then(chain)
        .is_some_and(|(_, _, path, _)| path.last() == Some(&"labels"))
}

type Chain<'a> = (&'a str, u64, Vec<&'a str>, Vec<u64>);

fn chain(e: &cel::IdedExpr) -> Option<Chain<'_>> {
    let mut fields = Vec::new();
    let mut ids = Vec::new();
    let mut cur = e;
    loop {
        match &cur.expr {
            Expr::Ident(name) => {
                fields.reverse();
                ids.reverse();
                return Some((name, cur.id, fields, ids));
            }
            Expr::Select(s) => {
                fields.push(s.field.as_str());
                ids.push(cur.id);
                cur = &s.operand;
            }
            _ => return None,
        }
    }
}

fn check_path(
    p: &Program,
    root: &str,
    root_id: u64,
    path: &[&str],
    ids: &[u64],
    allowed: &[&str],
    out: &mut Vec<Finding>,
) {
    let (offset, _) = position(p, root_id);
    let len = root.chars().count();
    let Some((_, shape)) = VARIABLES.iter().find(|(n, _)| *n == root) else {
        let help = crate::syntax::de::did_you_mean(root, allowed.iter().copied())
            .map(|c| format!("did you mean `{c}`? This field may use {}", one_of(allowed)))
            .unwrap_or_else(|| format!("this field may use {}", one_of(allowed)));
        out.push(Finding {
            offset,
            len,
            message: format!("unknown variable `{root}`"),
            help: Some(help),
        });
        return;
    };
    if !allowed.contains(&root) {
        out.push(Finding {
            offset,
            len,
            message: format!("`{root}` is not available here"),
            help: Some(format!("this field may use {}", one_of(allowed))),
        });
        return;
    }
    let mut shape = *shape;
    let mut so_far = root.to_string();
    for (field, id) in path.iter().zip(ids) {
        match shape {
            Leaf => {
                let (o, l) = position(p, *id);
                out.push(Finding {
                    offset: o,
                    len: l,
                    message: format!("`{so_far}` has no field `{field}`"),
                    help: None,
                });
                return;
            }
            Map => return,
            Obj(fields) => match fields.iter().find(|(n, _)| n == field) {
                Some((_, s)) => shape = *s,
                None => {
                    let (mut o, _) = position(p, *id);
                    // The parser places a selection at its dot; point at the field name.
                    if p.source_info().source.chars().nth(o) == Some('.') {
                        o += 1;
                    }
                    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
                    let help = crate::syntax::de::did_you_mean(field, names.iter().copied())
                        .map(|c| format!("did you mean `{so_far}.{c}`?"))
                        .unwrap_or_else(|| format!("`{so_far}` has {}", one_of(&names)));
                    out.push(Finding {
                        offset: o,
                        len: field.chars().count(),
                        message: format!("`{so_far}` has no field `{field}`"),
                        help: Some(help),
                    });
                    return;
                }
            },
        }
        so_far.push('.');
        so_far.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_have_positions() {
        let errs = compile("node.cpu.utilization < ").unwrap_err();
        assert!(!errs.is_empty());
        assert!(errs[0].offset >= 20, "{errs:?}");
    }

    #[test]
    fn variables_are_checked_per_field() {
        let p = compile("pod.cpu.usage > 0.5 && cluster.cpu.utilization < 1.0").unwrap();
        let f = check_references(&p, "when");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].offset, 0);
        assert!(f[0].message.contains("`pod` is not available"));
        assert!(check_references(&p, "demand").is_empty());
    }

    #[test]
    fn offsets_count_characters_after_non_ascii_text() {
        let src = "node.labels['zöne'] == 'é' && node.cpu.utilizatio < 1";
        let p = compile(src).unwrap();
        let f = check_references(&p, "nodeFilter");
        let want = src[..src.find("utilizatio").unwrap()].chars().count();
        assert_eq!((f[0].offset, f[0].len), (want, "utilizatio".len()), "{f:?}");
        let errs = compile("'é' == 'é' && ").unwrap_err();
        assert!(
            errs[0].offset <= "'é' == 'é' && ".chars().count(),
            "{errs:?}"
        );
    }

    #[test]
    fn types_that_fit_pass_and_types_that_never_fit_are_found() {
        let ok = [
            (
                "nodeFilter",
                "node.cpu.utilization < 0.5 && node.labels['zone'] != 'z3'",
            ),
            (
                "nodeFilter",
                "node.name.startsWith('gpu-') || 'x' in node.labels",
            ),
            ("nodeFilter", "node.labels['a'] + '-' + node.name == 'a-b'"),
            ("when", "now.hour >= 22 || now.hour < 6 ? true : false"),
            (
                "when",
                "[1, 2].all(x, x > 0) && size(node_list()) > 0 || cluster.nodes.total > 3",
            ),
            (
                "demand",
                "min(1.0, pod.cpu.usage / (pod.cpu.limit + 0.001))",
            ),
            ("demand", "pod.cpu.usage > 1.0 ? 1.0 : 0.5"),
            ("demand", "0.25"),
        ];
        for (field, src) in ok {
            let p = compile(src).unwrap();
            assert!(
                check_types(&p, field).is_empty(),
                "{src}: {:?}",
                check_types(&p, field)
            );
        }
        let bad = [
            (
                "when",
                "cluster.cpu.utilization + 'x' > 1",
                "cannot add a number and a string",
            ),
            ("when", "'1'", "must be a boolean"),
            (
                "nodeFilter",
                "node.name < 3",
                "cannot order a string and a number",
            ),
            (
                "nodeFilter",
                "node.cpu.utilization && true",
                "`&&` needs booleans",
            ),
            (
                "nodeFilter",
                "node.name * 2 > 1",
                "arithmetic needs numbers",
            ),
            ("demand", "pod.name", "must be a number"),
            ("demand", "1.5", "between 0 and 1"),
            (
                "when",
                "cluster.nodes.total ? true : false",
                "condition of `?:`",
            ),
        ];
        for (field, src, want) in bad {
            let p = compile(src).unwrap();
            let f = check_types(&p, field);
            assert!(f.iter().any(|f| f.message.contains(want)), "{src}: {f:?}");
        }
    }

    #[test]
    fn field_typos_get_suggestions() {
        let p = compile("node.cpu.utilizaton < 0.5").unwrap();
        let f = check_references(&p, "nodeFilter");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            f[0].help.as_deref(),
            Some("did you mean `node.cpu.utilization`?")
        );
    }

    #[test]
    fn macro_variables_and_labels_are_allowed() {
        let p =
            compile("node.labels.exists(k, k == 'pool') && node.labels['zone'] == 'a'").unwrap();
        assert!(check_references(&p, "nodeFilter").is_empty());
    }

    #[test]
    fn hostile_input_is_rejected_without_panic() {
        assert!(compile(&"(".repeat(1000)).is_err());
        assert!(compile(&"a".repeat(MAX_LEN + 1)).is_err());
        assert!(compile("").is_err());
    }
}

// ---------------------------------------------------------------- cost and evaluation

/// The most work an expression may describe, in AST nodes visited, counting each
/// comprehension's body once per element it may range over.
pub const MAX_COST: u64 = 1_000_000;

/// Elements assumed for a comprehension over a variable (labels, lists from the cluster)
/// when an expression is checked ahead of any cluster: `kilter lint`'s bound.
const RANGE_BOUND: u64 = 256;

/// The fewest elements every collection in scope is taken to have at evaluation: the fixed
/// maps (`cpu`, `budget`, …) have fewer keys than this.
pub const MIN_RANGE: u64 = 16;

/// A static upper bound on the work of evaluating the program, with every collection it
/// reads holding at most [`RANGE_BOUND`] elements.
pub fn estimated_cost(program: &Program) -> u64 {
    cost(program.expression(), RANGE_BOUND)
}

/// The work of evaluating `e` when every collection it reads holds at most `n` elements.
fn cost(e: &cel::IdedExpr, n: u64) -> u64 {
    let sum = |xs: &mut dyn Iterator<Item = &cel::IdedExpr>| {
        xs.map(|x| cost(x, n)).fold(0u64, u64::saturating_add)
    };
    let entries = |es: &[cel::common::ast::IdedEntryExpr]| {
        es.iter().fold(1u64, |acc, en| match &en.expr {
            EntryExpr::MapEntry(me) => acc
                .saturating_add(cost(&me.key, n))
                .saturating_add(cost(&me.value, n)),
            EntryExpr::StructField(f) => acc.saturating_add(cost(&f.value, n)),
        })
    };
    match &e.expr {
        Expr::Call(c) => 1u64
            .saturating_add(c.target.as_deref().map_or(0, |t| cost(t, n)))
            .saturating_add(sum(&mut c.args.iter())),
        Expr::Comprehension(c) => {
            let body = cost(&c.loop_cond, n)
                .saturating_add(cost(&c.loop_step, n))
                .saturating_add(1);
            cost(&c.iter_range, n)
                .saturating_add(cost(&c.accu_init, n))
                .saturating_add(size(&c.iter_range, n).saturating_mul(body))
                .saturating_add(cost(&c.result, n))
        }
        Expr::List(l) => 1u64.saturating_add(sum(&mut l.elements.iter())),
        Expr::Map(m) => entries(&m.entries),
        Expr::Struct(s) => entries(&s.entries),
        Expr::Select(s) => 1u64.saturating_add(cost(&s.operand, n)),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => 1,
    }
}

/// The most elements the value of `e` may hold when every collection it reads holds at most
/// `n`: a literal list its own, a concatenation the sum, `map`/`filter` their range's.
fn size(e: &cel::IdedExpr, n: u64) -> u64 {
    match &e.expr {
        Expr::List(l) => l.elements.len() as u64,
        Expr::Map(m) => m.entries.len() as u64,
        Expr::Literal(_) => 1,
        Expr::Call(c) if c.func_name == "_+_" && c.args.len() == 2 => {
            size(&c.args[0], n).saturating_add(size(&c.args[1], n))
        }
        Expr::Comprehension(c) => size(&c.iter_range, n),
        _ => n,
    }
}

/// A compiled expression with the largest collection it can afford to read.
#[derive(Debug)]
pub struct Bounded {
    pub program: std::sync::Arc<Program>,
    /// The most elements the collections it reads (labels) may hold for its cost to stay
    /// within [`MAX_COST`]; `u64::MAX` when its cost does not grow with them.
    pub max_range: u64,
    /// The same expression on the native fast path, when it uses only forms that has.
    pub fast: Option<fast::Fast>,
    /// And in float form, when it is a float expression.
    pub num: Option<fast::Num>,
}

impl Bounded {
    /// Bounds a program: refused when it may cost more than [`MAX_COST`] at [`RANGE_BOUND`].
    pub fn new(program: std::sync::Arc<Program>) -> Result<Bounded, String> {
        let e = program.expression();
        let c = cost(e, RANGE_BOUND);
        if c > MAX_COST {
            return Err(format!(
                "expression may cost {c} steps to evaluate; the limit is {MAX_COST}"
            ));
        }
        // Cost never falls as collections grow: find the largest affordable size.
        let max_range = if cost(e, u64::MAX / 2) <= MAX_COST {
            u64::MAX
        } else {
            let (mut ok, mut over) = (RANGE_BOUND, u64::MAX / 2);
            while over - ok > 1 {
                let mid = ok + (over - ok) / 2;
                if cost(e, mid) <= MAX_COST {
                    ok = mid;
                } else {
                    over = mid;
                }
            }
            ok
        };
        let fast = fast::compile(e);
        let num = fast.as_ref().and_then(fast::Num::of);
        Ok(Bounded {
            program,
            max_range,
            fast,
            num,
        })
    }

    /// The fast path's boolean result; `None` when the interpreter must evaluate (a form or
    /// a value the fast path does not model, an error, or a result that is not a boolean).
    pub fn fast_bool<'a>(
        &'a self,
        r: &dyn fast::Resolve<'a>,
        range: u64,
    ) -> Option<Result<bool, String>> {
        self.fast_value(r, range, |v| match v {
            fast::V::Bool(b) => Some(b),
            _ => None,
        })
    }

    /// The fast path's result as a fraction, as [`evaluate_fraction`] gives it.
    pub fn fast_fraction<'a>(
        &'a self,
        r: &dyn fast::Resolve<'a>,
        range: u64,
    ) -> Option<Result<f64, String>> {
        if let Some(n) = &self.num {
            if let Err(e) = self.admit(range) {
                return Some(Err(e));
            }
            if let Some(v) = n.eval(r) {
                return Some(fraction(v));
            }
        }
        let v = self.fast_value(r, range, |v| match v {
            fast::V::Float(f) => Some(f),
            fast::V::Int(i) => Some(i as f64),
            fast::V::UInt(u) => Some(u as f64),
            _ => None,
        })?;
        Some(v.and_then(fraction))
    }

    /// The fast path's value converted by `take`; the step limit is checked first, as for
    /// the interpreter.
    fn fast_value<'a, T>(
        &'a self,
        r: &dyn fast::Resolve<'a>,
        range: u64,
        take: impl FnOnce(fast::V<'a>) -> Option<T>,
    ) -> Option<Result<T, String>> {
        let f = self.fast.as_ref()?;
        if let Err(e) = self.admit(range) {
            return Some(Err(e));
        }
        take(f.eval(r)?).map(Ok)
    }

    /// Refuses to evaluate over collections larger than the program can afford: the step
    /// limit at run time, whatever the size of the labels in the cluster.
    fn admit(&self, range: u64) -> Result<(), String> {
        if range.max(MIN_RANGE) > self.max_range {
            let e = self.program.expression();
            return Err(format!(
                "evaluating it over {range} labels may cost {} steps; the limit is {MAX_COST}",
                cost(e, range)
            ));
        }
        Ok(())
    }
}

/// Compiles for evaluation: syntax, size and cost limits all checked.
pub fn compile_bounded(src: &str) -> Result<Bounded, String> {
    let program =
        compile(src).map_err(|f| f.first().map(|f| f.message.clone()).unwrap_or_default())?;
    Bounded::new(program)
}

/// Evaluates a program in a context whose collections hold at most `range` elements; a
/// program that cannot afford them, or a panic inside the interpreter, becomes an error.
pub fn evaluate(b: &Bounded, ctx: &cel::Context<'_, '_>, range: u64) -> Result<cel::Value, String> {
    b.admit(range)?;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.program.execute(ctx))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the CEL interpreter failed on this expression".into()),
    }
}

/// Evaluates to a boolean, or explains why not.
pub fn evaluate_bool(b: &Bounded, ctx: &cel::Context<'_, '_>, range: u64) -> Result<bool, String> {
    match evaluate(b, ctx, range)? {
        cel::Value::Bool(b) => Ok(b),
        other => Err(format!("expected a boolean, got {}", type_name(&other))),
    }
}

/// Evaluates to a number clamped to [0, 1].
pub fn evaluate_fraction(
    b: &Bounded,
    ctx: &cel::Context<'_, '_>,
    range: u64,
) -> Result<f64, String> {
    let v = match evaluate(b, ctx, range)? {
        cel::Value::Float(f) => f,
        cel::Value::Int(i) => i as f64,
        cel::Value::UInt(u) => u as f64,
        other => return Err(format!("expected a number, got {}", type_name(&other))),
    };
    fraction(v)
}

/// A demand as a fraction: NaN refused, the rest clamped to [0, 1].
fn fraction(v: f64) -> Result<f64, String> {
    if v.is_nan() {
        return Err("the result is not a number (NaN)".into());
    }
    Ok(v.clamp(0.0, 1.0))
}

fn type_name(v: &cel::Value) -> &'static str {
    match v {
        cel::Value::List(_) => "a list",
        cel::Value::Map(_) => "a map",
        cel::Value::Int(_) | cel::Value::UInt(_) | cel::Value::Float(_) => "a number",
        cel::Value::String(_) => "a string",
        cel::Value::Bool(_) => "a boolean",
        cel::Value::Null => "null",
        _ => "another type",
    }
}

/// Builds a CEL map value from (key, value) pairs.
pub fn map_value(pairs: Vec<(&str, cel::Value)>) -> cel::Value {
    let m: std::collections::HashMap<cel::objects::Key, cel::Value> = pairs
        .into_iter()
        .map(|(k, v)| (cel::objects::Key::from(k.to_string()), v))
        .collect();
    cel::Value::Map(cel::objects::Map {
        map: std::sync::Arc::new(m),
    })
}

#[cfg(test)]
mod eval_tests {
    use super::*;

    #[test]
    fn runaway_expressions_are_refused_before_running() {
        let list: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        let l = format!("[{}]", list.join(","));
        let src = format!("{l}.all(a, {l}.all(b, {l}.all(c, a + b + c >= 0)))");
        let err = compile_bounded(&src).unwrap_err();
        assert!(err.contains("limit"), "{err}");
        assert!(compile_bounded("node.labels.all(k, k != 'x')").is_ok());
    }

    #[test]
    fn the_step_limit_holds_whatever_the_number_of_labels() {
        let labels = |n: usize| {
            let pairs = (0..n).map(|i| (format!("k{i}"), cel::Value::Int(i as i64)));
            let m: std::collections::HashMap<cel::objects::Key, cel::Value> =
                pairs.map(|(k, v)| (k.into(), v)).collect();
            cel::Value::Map(cel::objects::Map {
                map: std::sync::Arc::new(m),
            })
        };
        // Passes the static bound (256 labels), but is quadratic in the labels it reads.
        let pairs =
            compile_bounded("node.labels.all(a, node.labels.all(b, a == b || a != b))").unwrap();
        assert!(
            pairs.max_range >= 256 && pairs.max_range < 3000,
            "{}",
            pairs.max_range
        );
        let mut ctx = cel::Context::default();
        ctx.add_variable_from_value("node", map_value(vec![("labels", labels(3000))]));
        let err = evaluate_bool(&pairs, &ctx, 3000).unwrap_err();
        assert!(
            err.contains("3000 labels") && err.contains("limit"),
            "{err}"
        );
        let mut small = cel::Context::default();
        small.add_variable_from_value("node", map_value(vec![("labels", labels(200))]));
        assert_eq!(evaluate_bool(&pairs, &small, 200), Ok(true));
        // Linear in the labels: affordable at 3,000; not growing with them at all: unbounded.
        let once = compile_bounded("node.labels.exists(k, k == 'k2999')").unwrap();
        assert_eq!(evaluate_bool(&once, &ctx, 3000), Ok(true));
        assert_eq!(
            compile_bounded("'a' in node.labels").unwrap().max_range,
            u64::MAX
        );
        // Concatenations and map/filter results count what they may hold.
        let single = compile_bounded("node.labels.all(a, a != '')").unwrap();
        let doubled = compile_bounded(
            "(node.labels.map(k, k) + node.labels.filter(k, k != '')).all(a, a != '')",
        )
        .unwrap();
        assert!(
            doubled.max_range < single.max_range / 2 + 1,
            "{} {}",
            doubled.max_range,
            single.max_range
        );
    }

    #[test]
    fn results_are_typed_and_clamped() {
        let mut ctx = cel::Context::default();
        ctx.add_variable_from_value("x", map_value(vec![("v", cel::Value::Float(2.5))]));
        assert_eq!(
            evaluate_fraction(&compile_bounded("x.v").unwrap(), &ctx, 0),
            Ok(1.0)
        );
        assert!(evaluate_bool(&compile_bounded("x.v").unwrap(), &ctx, 0).is_err());
        assert_eq!(
            evaluate_bool(&compile_bounded("x.v > 2.0").unwrap(), &ctx, 0),
            Ok(true)
        );
        assert!(evaluate_fraction(&compile_bounded("x.nope").unwrap(), &ctx, 0).is_err());
    }
}

/// A fresh evaluation context over the standard library, plus `min` and `max` of numbers
/// (`min(1.0, pod.cpu.usage / pod.cpu.limit)` as API.md writes it).
pub fn context(env: &std::sync::Arc<cel::Env>) -> cel::Context<'static, 'static> {
    let mut ctx = cel::Context::with_env(env.clone());
    let _ = ctx.add_function("min", cel::functions::min);
    let _ = ctx.add_function("max", cel::functions::max);
    ctx
}
