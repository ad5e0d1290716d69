//! Labels and annotations as a sorted vector of pairs.
//!
//! Most pods and nodes carry one to a handful of labels. A `BTreeMap` allocates a node with room
//! for eleven entries for even one (about 540 bytes for `String` pairs); at 150,000 pods that
//! was a quarter of a snapshot's memory. The vector holds exactly what is there, keeps the
//! map's sorted order (so everything rendered from it is unchanged), and is built by sorting
//! once, so a hostile map with a million keys costs `n log n`, not `n²`.

use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    fn find(&self, k: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.as_str().cmp(k))
    }

    pub fn get(&self, k: &str) -> Option<&String> {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.find(k).is_ok()
    }

    /// Sets `k` to `v`, returning the value it had.
    pub fn insert(&mut self, k: String, v: String) -> Option<String> {
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                self.0.insert(i, (k, v));
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &String)> + Clone {
        self.into_iter()
    }

    /// Sorted pairs (of equal keys the last given wins), and the least key given twice.
    fn sorted(mut pairs: Vec<(String, String)>) -> (Self, Option<String>) {
        // Stable, so of equal keys the last one given stays last.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut dup = None;
        let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            match out.last_mut() {
                Some(last) if last.0 == k => {
                    dup.get_or_insert(k);
                    last.1 = v;
                }
                _ => out.push((k, v)),
            }
        }
        (Labels(out), dup)
    }
}

/// Later pairs overwrite earlier ones with the same key, as for a map.
impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(it: I) -> Self {
        Labels::sorted(it.into_iter().collect()).0
    }
}

impl<const N: usize> From<[(String, String); N]> for Labels {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(m: BTreeMap<String, String>) -> Self {
        // Already sorted and unique.
        Labels(m.into_iter().collect())
    }
}

impl IntoIterator for Labels {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

/// A map of strings; a key given twice is an error (`duplicate key`), as Kubernetes refuses it.
impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Labels;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Labels, A::Error> {
                let mut pairs = Vec::with_capacity(m.size_hint().unwrap_or(0).min(64));
                while let Some(kv) = m.next_entry::<String, String>()? {
                    pairs.push(kv);
                }
                match Labels::sorted(pairs) {
                    (_, Some(k)) => Err(serde::de::Error::custom(format!("duplicate key `{k}`"))),
                    (labels, None) => Ok(labels),
                }
            }
        }
        d.deserialize_map(V)
    }
}

impl JsonSchema for Labels {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <BTreeMap<String, String>>::schema_name()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        <BTreeMap<String, String>>::json_schema(g)
    }
}

/// What a label selector reads: a value by key. Kubernetes objects keep their labels in a
/// `BTreeMap`, kilter's model in [`Labels`]; selectors match either.
pub trait LabelLookup {
    fn label(&self, k: &str) -> Option<&str>;
}

impl LabelLookup for Labels {
    fn label(&self, k: &str) -> Option<&str> {
        self.get(k).map(String::as_str)
    }
}

impl LabelLookup for BTreeMap<String, String> {
    fn label(&self, k: &str) -> Option<&str> {
        self.get(k).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every operation agrees with a BTreeMap given the same pairs.
        #[test]
        fn behaves_as_a_btreemap(
            pairs in proptest::collection::vec(("[a-d]{0,2}", "[xy]{0,2}"), 0..12),
            extra in ("[a-e]{0,2}", "[xyz]{0,2}"),
            probe in "[a-e]{0,2}",
        ) {
            let mut m: BTreeMap<String, String> = pairs.iter().cloned().collect();
            let mut l: Labels = pairs.iter().cloned().collect();
            prop_assert_eq!(l.iter().collect::<Vec<_>>(), m.iter().collect::<Vec<_>>());
            prop_assert_eq!(l.insert(extra.0.clone(), extra.1.clone()), m.insert(extra.0, extra.1));
            prop_assert_eq!(l.get(&probe), m.get(&probe));
            prop_assert_eq!(l.contains_key(&probe), m.contains_key(&probe));
            prop_assert_eq!(l.len(), m.len());
            prop_assert_eq!(serde_json::to_string(&l).unwrap(), serde_json::to_string(&m).unwrap());
            prop_assert_eq!(Labels::from(m.clone()), l.clone());
            prop_assert_eq!(l.iter().collect::<Vec<_>>(), m.iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_duplicate_key_is_refused_and_order_does_not_matter() {
        let l: Labels = serde_json::from_str(r#"{"b":"2","a":"1"}"#).unwrap();
        assert_eq!(l.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b"]);
        let e = serde_json::from_str::<Labels>(r#"{"a":"1","b":"2","a":"3"}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key `a`"), "{e}");
    }
}
