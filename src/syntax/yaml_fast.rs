//! The fast path for a well-formed YAML document: serde reads the parser's events straight
//! into the model, with no tree and no spans. It decodes as [`super::de`] does over the tree
//! [`super::yaml`] builds (the same scalar resolution, the same coercions) and gives up on
//! anything it does not model (an anchor, an alias, a tag, a second document, a duplicate or
//! non-scalar key, an unknown field, nesting past `limits::MAX_DEPTH`, any decoding error), so
//! that the caller reads the text again on the spanned path, which says where it is wrong.
//! A property test and the `snapshot` fuzz target hold both paths to the same result.

use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, StrInput};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess};
use serde::de::{Deserializer, Visitor};

use crate::syntax::tree::Value;
use crate::syntax::yaml::plain_typed;

/// Why the fast path stopped; the spanned path finds out what it was.
#[derive(Debug)]
pub struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not read on the fast path")
    }
}

impl std::error::Error for Refused {}

impl de::Error for Refused {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Refused
    }
}

/// Decodes a text holding one YAML document (a mapping) as `T`, its top-level `apiVersion`
/// and `kind` left out as [`super::de::decode_file`] leaves them out. `None`: read the text on
/// the spanned path.
pub fn decode<T: DeserializeOwned>(text: &str) -> Option<T> {
    if crate::syntax::yaml::split_documents(text).len() != 1 {
        return None;
    }
    let mut de = Events {
        parser: Parser::new_from_str(text),
        peeked: None,
        depth: 0,
        keys: Vec::new(),
        root: true,
    };
    if !matches!(de.next().ok()?, Event::StreamStart)
        || !matches!(de.next().ok()?, Event::DocumentStart(_))
        || !matches!(de.peek().ok()?, Event::MappingStart(..))
    {
        return None;
    }
    let value = T::deserialize(&mut de).ok()?;
    loop {
        match de.next().ok()? {
            Event::DocumentEnd => {}
            Event::StreamEnd => return Some(value),
            _ => return None,
        }
    }
}

/// Keys up to this many per mapping are compared one by one; past it, by hash.
const LINEAR_KEYS: usize = 16;

struct Events<'de> {
    parser: Parser<'de, StrInput<'de>>,
    peeked: Option<Event<'de>>,
    /// Open sequences and mappings.
    depth: usize,
    /// The keys of the open mappings, each mapping's first `LINEAR_KEYS` after its parent's.
    keys: Vec<String>,
    /// Whether the next mapping is the document's own.
    root: bool,
}

/// What the next value is, its opening event read.
enum Next {
    Scalar(Value),
    Seq,
    Map,
}

impl<'de> Events<'de> {
    fn next(&mut self) -> Result<Event<'de>, Refused> {
        if let Some(e) = self.peeked.take() {
            return Ok(e);
        }
        let (event, _) = self
            .parser
            .next_event()
            .ok_or(Refused)?
            .map_err(|_| Refused)?;
        let modelled = match &event {
            Event::Alias(_) | Event::Nothing => false,
            Event::Scalar(_, _, anchor, tag)
            | Event::SequenceStart(anchor, tag)
            | Event::MappingStart(anchor, tag) => *anchor == 0 && tag.is_none(),
            _ => true,
        };
        modelled.then_some(event).ok_or(Refused)
    }

    fn peek(&mut self) -> Result<&Event<'de>, Refused> {
        if self.peeked.is_none() {
            self.peeked = Some(self.next()?);
        }
        self.peeked.as_ref().ok_or(Refused)
    }

    /// Reads the next value's first event: a scalar whole, or the start of a collection.
    fn node(&mut self) -> Result<Next, Refused> {
        match self.next()? {
            Event::Scalar(text, style, ..) => Ok(Next::Scalar(resolve(text, style))),
            Event::SequenceStart(..) | Event::MappingStart(..)
                if self.depth >= crate::syntax::limits::MAX_DEPTH =>
            {
                Err(Refused)
            }
            Event::SequenceStart(..) => {
                self.depth += 1;
                Ok(Next::Seq)
            }
            Event::MappingStart(..) => {
                self.depth += 1;
                Ok(Next::Map)
            }
            _ => Err(Refused),
        }
    }

    /// Whether the open collection ends here (its end event then read).
    fn ends(&mut self) -> Result<bool, Refused> {
        if matches!(self.peek()?, Event::SequenceEnd | Event::MappingEnd) {
            self.peeked = None;
            self.depth -= 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// A mapping key as the spanned reader names it (`yaml::key_name`).
    fn key(&mut self) -> Result<String, Refused> {
        match self.next()? {
            // Not through `resolve`: a key is dropped with its mapping, so its spare capacity
            // is not worth a copy.
            Event::Scalar(text, style, ..) => match plain_typed(&text, style) {
                Some(v) => crate::syntax::yaml::key_name(v).ok_or(Refused),
                None => Ok(text.into_owned()),
            },
            _ => Err(Refused),
        }
    }

    /// Reads past a value, with the checks the spanned reader makes of it.
    fn skip(&mut self) -> Result<(), Refused> {
        match self.node()? {
            Next::Scalar(_) => Ok(()),
            Next::Seq => self.finish_seq(),
            Next::Map => self.finish_map(&mut Keys::new(self.keys.len())),
        }
    }

    fn finish_seq(&mut self) -> Result<(), Refused> {
        while !self.ends()? {
            self.skip()?;
        }
        Ok(())
    }

    fn finish_map(&mut self, keys: &mut Keys) -> Result<(), Refused> {
        while !self.ends()? {
            let key = self.key()?;
            keys.add(&mut self.keys, key)?;
            self.skip()?;
        }
        self.keys.truncate(keys.start);
        Ok(())
    }
}

/// The keys one mapping has had, to refuse a duplicate.
struct Keys {
    /// Where this mapping's keys start in `Events::keys`.
    start: usize,
    count: usize,
    /// Past `LINEAR_KEYS`: every key's hash (a collision refuses, which is safe).
    hashes: Option<foldhash::HashSet<u64>>,
}

impl Keys {
    fn new(start: usize) -> Keys {
        Keys {
            start,
            count: 0,
            hashes: None,
        }
    }

    /// Records `key`, refusing one seen before; the key is then the stack's last.
    fn add(&mut self, stack: &mut Vec<String>, key: String) -> Result<(), Refused> {
        use std::hash::BuildHasher;
        let hash = |k: &str| foldhash::quality::FixedState::with_seed(0).hash_one(k);
        self.count += 1;
        if self.count <= LINEAR_KEYS {
            if stack[self.start..].contains(&key) {
                return Err(Refused);
            }
            stack.push(key);
            return Ok(());
        }
        let hashes = self
            .hashes
            .get_or_insert_with(|| stack[self.start..].iter().map(|k| hash(k)).collect());
        if !hashes.insert(hash(&key)) {
            return Err(Refused);
        }
        stack.truncate(self.start + LINEAR_KEYS - 1);
        stack.push(key);
        Ok(())
    }
}

/// The YAML 1.2 core schema, as the spanned reader resolves a scalar (tags are refused).
fn resolve(text: std::borrow::Cow<'_, str>, style: ScalarStyle) -> Value {
    plain_typed(&text, style).unwrap_or_else(|| {
        // The parser grows each scalar as it reads it; kept in the model as it is, the spare
        // capacity adds about half again to a large snapshot's memory.
        let mut s = text.into_owned();
        s.shrink_to_fit();
        Value::Str(s)
    })
}

fn is_null(e: &Event<'_>) -> bool {
    matches!(e, Event::Scalar(t, ScalarStyle::Plain, ..) if crate::syntax::yaml::is_null_word(t))
}

impl<'de> Events<'de> {
    fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Refused> {
        let v = visitor.visit_seq(Seq { de: self })?;
        self.finish_seq()?;
        Ok(v)
    }

    fn map<V: Visitor<'de>>(
        &mut self,
        visitor: V,
        fields: Option<&'static [&'static str]>,
    ) -> Result<V::Value, Refused> {
        let mut map = Map {
            keys: Keys::new(self.keys.len()),
            root: std::mem::take(&mut self.root),
            fields,
            next_field: 0,
            de: self,
        };
        let v = visitor.visit_map(&mut map)?;
        let mut keys = map.keys;
        self.finish_map(&mut keys)?;
        Ok(v)
    }

    fn integer<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Scalar(Value::Int(i)) => visitor.visit_i64(i),
            Next::Scalar(Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9e15 => {
                visitor.visit_i64(f as i64)
            }
            _ => Err(Refused),
        }
    }

    fn string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Scalar(Value::Str(s)) => visitor.visit_string(s),
            _ => Err(Refused),
        }
    }
}

macro_rules! forward {
    ($($method:ident => $to:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
            self.$to(visitor)
        })*
    };
}

impl<'de> Deserializer<'de> for &mut Events<'de> {
    type Error = Refused;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Scalar(Value::Null) => visitor.visit_unit(),
            Next::Scalar(Value::Bool(b)) => visitor.visit_bool(b),
            Next::Scalar(Value::Int(i)) => visitor.visit_i64(i),
            Next::Scalar(Value::Float(f)) => visitor.visit_f64(f),
            Next::Scalar(Value::Str(s)) => visitor.visit_string(s),
            Next::Scalar(_) => Err(Refused),
            Next::Seq => self.seq(visitor),
            Next::Map => self.map(visitor, None),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Scalar(Value::Bool(b)) => visitor.visit_bool(b),
            _ => Err(Refused),
        }
    }

    forward!(
        deserialize_i8 => integer, deserialize_i16 => integer, deserialize_i32 => integer,
        deserialize_i64 => integer, deserialize_u8 => integer, deserialize_u16 => integer,
        deserialize_u32 => integer, deserialize_u64 => integer,
        deserialize_char => string, deserialize_str => string, deserialize_string => string,
        deserialize_bytes => string, deserialize_byte_buf => string,
        deserialize_identifier => string,
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Scalar(Value::Int(i)) => visitor.visit_f64(i as f64),
            Next::Scalar(Value::Float(f)) if f.is_finite() => visitor.visit_f64(f),
            _ => Err(Refused),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        if is_null(self.peek()?) {
            self.peeked = None;
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Scalar(Value::Null) => visitor.visit_unit(),
            Next::Map if self.ends()? => visitor.visit_unit(),
            _ => Err(Refused),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Seq => self.seq(visitor),
            _ => Err(Refused),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Refused> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Map => self.map(visitor, None),
            Next::Scalar(Value::Null) => visitor.visit_map(Empty),
            _ => Err(Refused),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Map => self.map(visitor, Some(fields)),
            Next::Scalar(Value::Null) => visitor.visit_map(Empty),
            _ => Err(Refused),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refused> {
        match self.node()? {
            Next::Scalar(Value::Str(s)) if variants.contains(&s.as_str()) => {
                visitor.visit_enum(s.as_str().into_deserializer())
            }
            _ => Err(Refused),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        self.skip()?;
        visitor.visit_unit()
    }
}

struct Seq<'a, 'de> {
    de: &'a mut Events<'de>,
}

impl<'de> SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Refused;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Refused> {
        if matches!(self.de.peek()?, Event::SequenceEnd) {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

struct Map<'a, 'de> {
    de: &'a mut Events<'de>,
    keys: Keys,
    /// The document's own mapping: its `apiVersion` and `kind` are left out.
    root: bool,
    fields: Option<&'static [&'static str]>,
    next_field: usize,
}

impl<'de> MapAccess<'de> for &mut Map<'_, 'de> {
    type Error = Refused;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Refused> {
        loop {
            if matches!(self.de.peek()?, Event::MappingEnd) {
                return Ok(None);
            }
            let key = self.de.key()?;
            self.keys.add(&mut self.de.keys, key)?;
            let key = self.de.keys.last().map_or("", String::as_str);
            if self.root && (key == "apiVersion" || key == "kind") {
                self.de.skip()?;
                continue;
            }
            if let Some(fields) = self.fields
                && !crate::syntax::de::known(fields, &mut self.next_field, key)
            {
                return Err(Refused);
            }
            let key: de::value::StrDeserializer<'_, Refused> = key.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Refused> {
        seed.deserialize(&mut *self.de)
    }
}

/// A null read as a mapping: no entries, as on the spanned path.
struct Empty;

impl<'de> MapAccess<'de> for Empty {
    type Error = Refused;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        _: K,
    ) -> Result<Option<K::Value>, Refused> {
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }
}

#[cfg(test)]
mod tests {
    use crate::state::{load_spanned, load_yaml_fast};
    use crate::syntax::source::SourceFile;

    /// Reads `text` both ways; what the fast path accepts must read the same on the spanned
    /// path. Returns whether the fast path accepted it.
    fn both(text: &str) -> bool {
        let spanned = load_spanned(&SourceFile::new("s.yaml", text));
        let fast = load_yaml_fast(text);
        if let Some(fast) = &fast {
            assert_eq!(Some(fast), spanned.as_ref().ok(), "{text}");
        }
        fast.is_some()
    }

    const NODE: &str = "nodes:\n- name: n1\n  allocatable: {cpu: '4'}\n";

    #[test]
    fn reads_what_the_spanned_reader_reads() {
        let accepted = [
            NODE.to_string(),
            format!("apiVersion: kilter.dev/v1alpha1\nkind: ClusterSnapshot\n{NODE}"),
            format!("---\n{NODE}...\n"),
            // Typed scalars as the spanned reader types them: hex, octal, floats into
            // integers and quantities, typed keys written out.
            "nodes:\n- name: n1\n  allocatable: {cpu: 0x10, memory: 0o17}\n  labels: {1: a, true: b, ~: c, 1.5: d, 0x1F: e}\n  cpuUtilization: 1\n".into(),
            "nodes:\n- name: n1\n  allocatable: {cpu: 2.0}\n  governor: \"null\"\n  probe: ~\n  annotations: ~\n".into(),
            // Block scalars, comments and a mapping of more keys than are compared one by one.
            format!(
                "nodes:\n- name: |-\n    n1\n  allocatable: {{cpu: 4}} # four\n  labels:\n{}",
                (0..40).map(|i| format!("    k{i}: v{i}\n")).collect::<String>()
            ),
        ];
        for text in &accepted {
            assert!(both(text), "the fast path refused:\n{text}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_model_or_the_spanned_reader_refuses() {
        let many = |dup: &str| {
            let keys: String = (0..40).map(|i| format!("    k{i}: v\n")).collect();
            format!(
                "nodes:\n- name: n1\n  allocatable: {{cpu: 4}}\n  labels:\n{keys}    {dup}: v\n"
            )
        };
        let refused = [
            format!("{NODE}  labels: {{a: x, a: y}}\n"),
            many("k3"),
            many("k30"),
            format!("kind: {{a: 1, a: 2}}\n{NODE}"),
            format!("kind: x\nkind: y\n{NODE}"),
            format!("{NODE}  unknown: 1\n"),
            format!("{NODE}---\n{NODE}"),
            "nodes:\n- &n {name: n1, allocatable: {cpu: 4}}\n- *n\n".into(),
            "nodes:\n- name: !!str 5\n  allocatable: {cpu: 4}\n".into(),
            "nodes: !!seq []\n".into(),
            format!("{NODE}  labels: {{[a]: b}}\n"),
            format!("{NODE}  cpuUtilization: .nan\n"),
            format!("{NODE}  ready: yes\n"),
            "# nothing\n".into(),
            "".into(),
            "- a\n".into(),
            format!("{NODE}  labels: {{a: {}}}\n", "[".repeat(100_000)),
            format!(
                "{NODE}  labels: {{a: {}{}}}\n",
                "[".repeat(70),
                "]".repeat(70)
            ),
            format!("{NODE}  labels: {{a: \"\\ud83d\\ude00\"}}\n"),
        ];
        for text in &refused {
            assert!(!both(text), "the fast path accepted:\n{text}");
        }
    }
}
