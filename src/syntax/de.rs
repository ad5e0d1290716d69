//! A serde `Deserializer` over the spanned tree. Errors carry the span of the offending
//! value; unknown fields are reported with a "did you mean" hint and skipped, and a bad
//! value is set aside so decoding can go on and report the next one.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use crate::syntax::source::Span;
use crate::syntax::tree::{Node, Value};

/// One decoding finding, before it is tied to a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub code: &'static str,
    pub message: String,
    pub span: Option<Span>,
    pub help: Option<String>,
    missing_field: Option<String>,
}

impl Issue {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Issue {
            code,
            message: message.into(),
            span: None,
            help: None,
            missing_field: None,
        }
    }
    fn at(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }
    fn help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Issue {}

impl de::Error for Issue {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Issue::new(crate::syntax::diag::code::INVALID_VALUE, msg.to_string())
    }
    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Issue::new(
            crate::syntax::diag::code::TYPE_MISMATCH,
            format!("expected {exp}, found {}", unexpected(&unexp)),
        )
    }
    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Issue::new(
            crate::syntax::diag::code::INVALID_VALUE,
            format!("invalid value {}: expected {exp}", unexpected(&unexp)),
        )
    }
    fn missing_field(field: &'static str) -> Self {
        let mut i = Issue::new(
            crate::syntax::diag::code::TYPE_MISMATCH,
            format!("missing required field `{field}`"),
        );
        i.missing_field = Some(field.to_string());
        i
    }
}

fn unexpected(u: &de::Unexpected<'_>) -> String {
    match u {
        de::Unexpected::Signed(i) => format!("the integer {i}"),
        de::Unexpected::Unsigned(i) => format!("the integer {i}"),
        de::Unexpected::Float(f) => format!("the number {f}"),
        de::Unexpected::Str(s) => format!("the string \"{s}\""),
        other => other.to_string(),
    }
}

/// The closest candidate by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Names in backticks, separated by commas.
pub(crate) fn one_of(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Ctx {
    notes: RefCell<Vec<Issue>>,
    /// Values set aside after an error; empty on a clean decode, which then never hashes.
    poisoned: foldhash::HashSet<Span>,
    skipped_keys: RefCell<HashSet<String>>,
}

impl Ctx {
    fn set_aside(&self, span: &Span) -> bool {
        !self.poisoned.is_empty() && self.poisoned.contains(span)
    }
}

/// Reads the first non-empty YAML (or JSON) document of `file` and decodes it as `T` (an
/// `apiVersion` and `kind` at its top are allowed and left out). Returns the document, the
/// value (partial when there are diagnostics) and the diagnostics; a file with no document
/// is an error naming `what` it should hold.
#[allow(clippy::type_complexity)]
pub fn decode_file<T: DeserializeOwned>(
    file: &std::sync::Arc<crate::syntax::source::SourceFile>,
    what: &str,
) -> Result<
    (Node, Option<T>, Vec<crate::syntax::diag::Diagnostic>),
    Vec<crate::syntax::diag::Diagnostic>,
> {
    use crate::syntax::diag::Diagnostic;
    let (docs, mut diags) = crate::syntax::yaml::parse(file);
    let Some(doc) = docs
        .into_iter()
        .find(|d| !matches!(d.node.value, Value::Null))
    else {
        diags.push(Diagnostic::error(
            crate::syntax::diag::code::SYNTAX,
            file,
            Default::default(),
            format!("the {what} file holds no document"),
        ));
        return Err(diags);
    };
    let mut node = doc.node;
    if let Value::Map(entries) = &mut node.value {
        entries.retain(|e| e.key != "apiVersion" && e.key != "kind");
    }
    let (value, issues) = decode::<T>(&node);
    diags.extend(issues.into_iter().map(|i| {
        Diagnostic::error(i.code, file, i.span.unwrap_or(node.span), i.message)
            .with_help_opt(i.help)
    }));
    Ok((node, value, diags))
}

/// Decodes `T` from a node, reporting as many problems as it can find. With issues, the
/// value (when there is one) is partial — the offending fields left out — and only good
/// for further checks, never for acting on.
pub fn decode<T: DeserializeOwned>(node: &Node) -> (Option<T>, Vec<Issue>) {
    let mut ctx = Ctx {
        notes: RefCell::new(Vec::new()),
        poisoned: Default::default(),
        skipped_keys: RefCell::new(HashSet::new()),
    };
    let mut errors: Vec<Issue> = Vec::new();
    // Each round sets aside the value that failed and tries again, up to a bound.
    for _ in 0..64 {
        ctx.skipped_keys.borrow_mut().clear();
        let result = T::deserialize(De { node, ctx: &ctx });
        match result {
            Ok(v) => {
                // After errors this is a partial value: the bad fields are left out.
                let mut all = ctx.notes.take();
                all.extend(errors);
                return (Some(v), dedup(all));
            }
            Err(e) => {
                let span = e.span.unwrap_or(node.span);
                // A required field that was set aside, or misspelt (an unknown field
                // already suggests it): set its whole mapping aside too, without reporting
                // the consequence as a second error.
                let consequence = e.missing_field.as_ref().is_some_and(|f| {
                    let suggested = format!("did you mean `{f}`?");
                    ctx.skipped_keys.borrow().contains(f)
                        || ctx.notes.borrow().iter().any(|n| {
                            n.code == crate::syntax::diag::code::UNKNOWN_FIELD
                                && n.help.as_deref() == Some(suggested.as_str())
                        })
                });
                let again = !ctx.poisoned.insert(span);
                if !consequence {
                    errors.push(e);
                }
                if again || span == node.span {
                    break;
                }
            }
        }
    }
    let mut all = ctx.notes.take();
    all.extend(errors);
    (None, dedup(all))
}

fn dedup(mut v: Vec<Issue>) -> Vec<Issue> {
    let mut seen = HashSet::new();
    v.retain(|i| seen.insert((i.span, i.message.clone())));
    v
}

#[derive(Clone, Copy)]
struct De<'a> {
    node: &'a Node,
    ctx: &'a Ctx,
}

impl<'a> De<'a> {
    fn mismatch(&self, expected: &str) -> Issue {
        let mut help = None;
        if let Value::Int(_) | Value::Float(_) | Value::Bool(_) = self.node.value
            && expected == "a string"
        {
            help = Some("quote the value to make it a string".to_string());
        }
        if let Value::Str(s) = &self.node.value
            && (expected.contains("number") || expected.contains("integer"))
            && s.parse::<f64>().is_ok()
        {
            help = Some("remove the quotes: this field takes a number".to_string());
        }
        Issue::new(
            crate::syntax::diag::code::TYPE_MISMATCH,
            format!("expected {expected}, found {}", self.node.describe()),
        )
        .at(self.node.span)
        .help(help)
    }

    fn map_access(self, fields: Option<&'static [&'static str]>) -> Map<'a> {
        Map {
            entries: self.node.entries().iter(),
            value: None,
            fields,
            next_field: 0,
            ctx: self.ctx,
        }
    }
}

macro_rules! int_method {
    ($method:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
            match self.node.value {
                Value::Int(i) => visitor
                    .visit_i64(i)
                    .map_err(|e: Issue| e.at(self.node.span)),
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => visitor
                    .visit_i64(f as i64)
                    .map_err(|e: Issue| e.at(self.node.span)),
                _ => Err(self.mismatch("an integer")),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for De<'_> {
    type Error = Issue;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        let span = self.node.span;
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(Seq {
                items: items.iter(),
                ctx: self.ctx,
            }),
            Value::Map(_) => visitor.visit_map(self.map_access(None)),
        };
        r.map_err(|e| e.at(span))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        match self.node.value {
            Value::Bool(b) => visitor.visit_bool(b),
            _ => Err(self.mismatch("a boolean (true or false)")),
        }
    }

    int_method!(deserialize_i8);
    int_method!(deserialize_i16);
    int_method!(deserialize_i32);
    int_method!(deserialize_i64);
    int_method!(deserialize_u8);
    int_method!(deserialize_u16);
    int_method!(deserialize_u32);
    int_method!(deserialize_u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        match self.node.value {
            Value::Int(i) => visitor.visit_f64(i as f64),
            Value::Float(f) if f.is_finite() => visitor.visit_f64(f),
            Value::Float(_) => Err(Issue::new(
                crate::syntax::diag::code::INVALID_VALUE,
                "expected a finite number",
            )
            .at(self.node.span)),
            _ => Err(self.mismatch("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        match &self.node.value {
            Value::Str(s) => visitor
                .visit_str(s)
                .map_err(|e: Issue| e.at(self.node.span)),
            _ => Err(self.mismatch("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Map(e) if e.is_empty() => visitor.visit_unit(),
            _ => Err(self.mismatch("an empty mapping `{}`")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Issue> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Issue> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        match &self.node.value {
            Value::Seq(items) => visitor
                .visit_seq(Seq {
                    items: items.iter(),
                    ctx: self.ctx,
                })
                .map_err(|e: Issue| e.at(self.node.span)),
            _ => Err(self.mismatch("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Issue> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Issue> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        match &self.node.value {
            Value::Map(_) => visitor
                .visit_map(self.map_access(None))
                .map_err(|e: Issue| e.at(self.node.span)),
            Value::Null => visitor.visit_map(self.map_access(None)),
            _ => Err(self.mismatch("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Issue> {
        match &self.node.value {
            Value::Map(_) | Value::Null => visitor
                .visit_map(self.map_access(Some(fields)))
                .map_err(|e: Issue| e.at(self.node.span)),
            _ => Err(self.mismatch("a mapping")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Issue> {
        let Value::Str(s) = &self.node.value else {
            return Err(self.mismatch(&format!("one of {}", one_of(variants))));
        };
        if !variants.contains(&s.as_str()) {
            let help =
                did_you_mean(s, variants.iter().copied()).map(|c| format!("did you mean `{c}`?"));
            return Err(Issue::new(
                crate::syntax::diag::code::ENUM_VALUE,
                format!(
                    "`{s}` is not a valid {}: expected one of {}",
                    enum_name(name),
                    one_of(variants)
                ),
            )
            .at(self.node.span)
            .help(help));
        }
        visitor
            .visit_enum(s.as_str().into_deserializer())
            .map_err(|e: Issue| e.at(self.node.span))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Issue> {
        visitor.visit_unit()
    }
}

fn enum_name(type_name: &str) -> String {
    let mut out = String::new();
    for (i, c) in type_name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Node>,
    ctx: &'a Ctx,
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = Issue;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Issue> {
        for node in self.items.by_ref() {
            if self.ctx.set_aside(&node.span) {
                continue;
            }
            return seed
                .deserialize(De {
                    node,
                    ctx: self.ctx,
                })
                .map(Some)
                .map_err(|e| e.at(node.span));
        }
        Ok(None)
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, crate::syntax::tree::Entry>,
    value: Option<&'a Node>,
    fields: Option<&'static [&'static str]>,
    /// Where the next key is looked for first: keys mostly come in the fields' order.
    next_field: usize,
    ctx: &'a Ctx,
}

/// Whether `key` is one of `fields`, looked for from `next` on first.
pub(crate) fn known(fields: &[&str], next: &mut usize, key: &str) -> bool {
    let (passed, ahead) = fields.split_at((*next).min(fields.len()));
    let found = (ahead
        .iter()
        .position(|f| *f == key)
        .map(|i| i + passed.len()))
    .or_else(|| passed.iter().position(|f| *f == key));
    if let Some(i) = found {
        *next = i + 1;
    }
    found.is_some()
}

impl<'de> MapAccess<'de> for Map<'_> {
    type Error = Issue;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Issue> {
        for entry in self.entries.by_ref() {
            if let Some(fields) = self.fields
                && !known(fields, &mut self.next_field, &entry.key)
            {
                let merge = (entry.key == "<<").then(|| {
                    "`<<` merge keys belong to YAML 1.1, not 1.2, and readers disagree on \
                     them: write the fields out"
                        .to_string()
                });
                let help = merge
                    .or_else(|| {
                        did_you_mean(&entry.key, fields.iter().copied())
                            .map(|c| format!("did you mean `{c}`?"))
                    })
                    .or_else(|| {
                        (!fields.is_empty())
                            .then(|| format!("known fields here: {}", one_of(fields)))
                    });
                self.ctx.notes.borrow_mut().push(
                    Issue::new(
                        crate::syntax::diag::code::UNKNOWN_FIELD,
                        format!("unknown field `{}`", entry.key),
                    )
                    .at(entry.key_span)
                    .help(help),
                );
                continue;
            }
            if self.ctx.set_aside(&entry.value.span) {
                self.ctx.skipped_keys.borrow_mut().insert(entry.key.clone());
                continue;
            }
            self.value = Some(&entry.value);
            let key: de::value::StrDeserializer<'_, Issue> = entry.key.as_str().into_deserializer();
            return seed
                .deserialize(key)
                .map(Some)
                .map_err(|e| e.at(entry.key_span));
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Issue> {
        let node = self.value.take().expect("value after key");
        seed.deserialize(De {
            node,
            ctx: self.ctx,
        })
        .map_err(|e| e.at(node.span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::source::SourceFile;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct T {
        max_watts: f64,
        #[serde(default)]
        warn_percent: Option<i64>,
        #[serde(default)]
        mode: Option<crate::model::Mode>,
    }

    fn run(text: &str) -> (Option<T>, Vec<Issue>, std::sync::Arc<SourceFile>) {
        let f = SourceFile::new("t.yaml", text);
        let (docs, d) = crate::syntax::yaml::parse(&f);
        assert!(d.is_empty());
        let (v, issues) = decode::<T>(&docs[0].node);
        (v, issues, f)
    }

    #[test]
    fn unknown_fields_get_a_suggestion_and_do_not_stop_decoding() {
        let (v, issues, f) = run("maxWatts: 10\nwarnPercnt: 5\nmode: Enforc\n");
        assert_eq!(v.unwrap().max_watts, 10.0, "the rest still decodes");
        assert_eq!(issues.len(), 2, "{issues:?}");
        let unknown = issues
            .iter()
            .find(|i| i.code == crate::syntax::diag::code::UNKNOWN_FIELD)
            .unwrap();
        assert_eq!(f.line_col(unknown.span.unwrap().start), (2, 1));
        assert_eq!(unknown.help.as_deref(), Some("did you mean `warnPercent`?"));
        let bad_enum = issues
            .iter()
            .find(|i| i.code == crate::syntax::diag::code::ENUM_VALUE)
            .unwrap();
        assert_eq!(f.line_col(bad_enum.span.unwrap().start), (3, 7));
        assert_eq!(bad_enum.help.as_deref(), Some("did you mean `Enforce`?"));
    }

    #[test]
    fn every_bad_value_is_reported_not_only_the_first() {
        let (_, issues, f) = run("maxWatts: lots\nwarnPercent: \"5\"\n");
        let lines: Vec<_> = issues
            .iter()
            .map(|i| f.line_col(i.span.unwrap().start).0)
            .collect();
        assert_eq!(lines, vec![1, 2], "{issues:?}");
        assert_eq!(
            issues[1].help.as_deref(),
            Some("remove the quotes: this field takes a number")
        );
    }

    #[test]
    fn missing_required_field_is_reported() {
        let (v, issues, _) = run("warnPercent: 5\n");
        assert!(v.is_none());
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message.contains("`maxWatts`"));
    }

    #[test]
    fn clean_input_decodes() {
        let (v, issues, _) = run("maxWatts: 4500\nmode: DryRun\n");
        assert!(issues.is_empty());
        assert_eq!(v.unwrap().max_watts, 4500.0);
    }
}
