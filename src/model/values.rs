//! Value types of the API: durations, CPU and memory quantities, int-or-percent, times of day.
//! Each parses from the forms users write and serializes to one canonical form.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_schema {
    ($t:ty, $name:literal, $schema:tt) => {
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

/// A span of time, written `30s`, `5m`, `1h30m`, `500ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{s}` is not a duration; write a number with a unit, like 30s, 5m or 1h30m")
        };
        if s.is_empty() {
            return Err(bad());
        }
        if s.starts_with('-') {
            return Err(format!(
                "`{s}` is a negative duration; durations cannot be negative"
            ));
        }
        if s == "0" {
            return Ok(Duration::default());
        }
        let mut total: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let n = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if n == 0 {
                return Err(bad());
            }
            let num: u128 = rest[..n].parse().map_err(|_| bad())?;
            rest = &rest[n..];
            let (unit_ms, len) = if rest.starts_with("ms") {
                (1, 2)
            } else if rest.starts_with('s') {
                (1_000, 1)
            } else if rest.starts_with('m') {
                (60_000, 1)
            } else if rest.starts_with('h') {
                (3_600_000, 1)
            } else if rest.starts_with('d') {
                (86_400_000, 1)
            } else {
                return Err(bad());
            };
            rest = &rest[len..];
            total = total
                .checked_add(num.checked_mul(unit_ms).ok_or_else(bad)?)
                .ok_or_else(bad)?;
        }
        let ms = u64::try_from(total).map_err(|_| bad())?;
        Ok(Duration(std::time::Duration::from_millis(ms)))
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

/// CPU in millicores, written `250m`, `2` or `1.5`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuQuantity(pub i64);

impl CpuQuantity {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a CPU quantity; write cores like `2` or `1.5`, or millicores like `250m`"
            )
        };
        if let Some(m) = s.strip_suffix('m') {
            return m.parse::<i64>().map(CpuQuantity).map_err(|_| bad());
        }
        let v: f64 = s.parse().map_err(|_| bad())?;
        Self::from_cores(v).ok_or_else(|| format!("`{s}` is finer than one millicore (1m)"))
    }

    /// Also accepts the units metrics report (`n`, `u`), rounding up to whole millicores.
    pub fn parse_fine(s: &str) -> Result<Self, String> {
        let scaled = |n: &str, per_milli: f64| {
            n.parse::<f64>()
                .map(|v| CpuQuantity((v / per_milli).ceil() as i64))
                .map_err(|_| format!("`{s}` is not a CPU quantity"))
        };
        if let Some(n) = s.strip_suffix('n') {
            return scaled(n, 1_000_000.0);
        }
        if let Some(u) = s.strip_suffix('u') {
            return scaled(u, 1_000.0);
        }
        Self::parse(s)
    }

    fn from_cores(v: f64) -> Option<Self> {
        let m = v * 1000.0;
        (m.is_finite() && (m - m.round()).abs() < 1e-6 && m.abs() < 9e15)
            .then(|| CpuQuantity(m.round() as i64))
    }
}

impl fmt::Display for CpuQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

const BINARY: [(&str, i64); 6] = [
    ("Ei", 1 << 60),
    ("Pi", 1 << 50),
    ("Ti", 1 << 40),
    ("Gi", 1 << 30),
    ("Mi", 1 << 20),
    ("Ki", 1 << 10),
];
const DECIMAL: [(&str, i64); 6] = [
    ("E", 1_000_000_000_000_000_000),
    ("P", 1_000_000_000_000_000),
    ("T", 1_000_000_000_000),
    ("G", 1_000_000_000),
    ("M", 1_000_000),
    ("k", 1_000),
];

/// Memory in bytes, written `512Mi`, `2Gi`, `1G` or a plain number of bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemoryQuantity(pub i64);

impl MemoryQuantity {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a memory quantity; write bytes with a suffix, like `512Mi` or `2Gi`"
            )
        };
        for (suffix, mult) in BINARY.iter().chain(DECIMAL.iter()) {
            if let Some(n) = s.strip_suffix(suffix) {
                let v: f64 = n.parse().map_err(|_| bad())?;
                let b = v * *mult as f64;
                if !b.is_finite() || b.abs() > 9.2e18 {
                    return Err(bad());
                }
                return Ok(MemoryQuantity(b.round() as i64));
            }
        }
        s.parse::<i64>().map(MemoryQuantity).map_err(|_| bad())
    }
}

impl fmt::Display for MemoryQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 != 0 {
            for (suffix, mult) in BINARY.iter().chain(DECIMAL.iter()) {
                if self.0 % mult == 0 {
                    return write!(f, "{}{suffix}", self.0 / mult);
                }
            }
        }
        write!(f, "{}", self.0)
    }
}

/// An absolute count or a percentage, written `2` or `"20%"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntOrPercent {
    Int(i64),
    Percent(i64),
}

impl IntOrPercent {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_suffix('%') {
            return p.trim().parse().map(IntOrPercent::Percent).map_err(|_| {
                format!("`{s}` is not a percentage; write a whole number with %, like \"20%\"")
            });
        }
        s.parse()
            .map(IntOrPercent::Int)
            .map_err(|_| format!("`{s}` is neither a count nor a percentage; write `2` or \"20%\""))
    }

    /// Resolves against a total, rounding percentages up as Kubernetes does for maxUnavailable.
    pub fn resolve(self, total: usize) -> usize {
        match self {
            IntOrPercent::Int(n) => n.max(0) as usize,
            // A percentage above 100 means "all of them", never a wrapped-around count.
            IntOrPercent::Percent(p) => (p.clamp(0, 100) as usize * total).div_ceil(100),
        }
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Int(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A wall-clock time `HH:MM` in the schedule's time zone; `24:00` means end of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    pub minutes: u16,
}

impl TimeOfDay {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad =
            || format!("`{s}` is not a time of day; write HH:MM in 24-hour form, like \"22:00\"");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(TimeOfDay {
            minutes: h * 60 + m,
        })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// Deserializes from a string and, for quantity-like types, from a plain number too.
struct ParseVisitor<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
    numbers: bool,
}

impl<T> Visitor<'_> for ParseVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        if self.numbers {
            (self.parse)(&v.to_string()).map_err(E::custom)
        } else {
            Err(E::invalid_type(de::Unexpected::Signed(v), &self))
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_i64(i64::try_from(v).map_err(|_| E::custom("number too large"))?)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if !v.is_finite() {
            // `1e400` reads as infinity: say so rather than quote `inf`.
            return Err(E::custom("the number is too large to represent"));
        }
        if self.numbers {
            (self.parse)(&v.to_string()).map_err(E::custom)
        } else {
            Err(E::invalid_type(de::Unexpected::Float(v), &self))
        }
    }
}

macro_rules! via_string {
    ($t:ty, $expecting:literal, numbers = $numbers:expr) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(ParseVisitor {
                    expecting: $expecting,
                    parse: <$t>::parse,
                    numbers: $numbers,
                })
            }
        }
    };
}

via_string!(
    Duration,
    "a duration like 30s, 5m or 1h30m",
    numbers = false
);
via_string!(CpuQuantity, "a CPU quantity like 250m or 2", numbers = true);
via_string!(
    MemoryQuantity,
    "a memory quantity like 512Mi or 2Gi",
    numbers = true
);
via_string!(TimeOfDay, "a time of day like \"22:00\"", numbers = false);

impl Serialize for IntOrPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrPercent::Int(n) => s.serialize_i64(*n),
            IntOrPercent::Percent(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ParseVisitor {
            expecting: "a count like 2 or a percentage like \"20%\"",
            parse: IntOrPercent::parse,
            numbers: true,
        })
    }
}

string_schema!(Duration, "Duration", {
    "type": "string",
    "pattern": "^([0-9]+(ms|s|m|h|d))+$|^0$",
    "description": "A duration such as 30s, 5m or 1h30m."
});
string_schema!(CpuQuantity, "CpuQuantity", {
    "x-kubernetes-int-or-string": true,
    "description": "CPU: cores (2, 1.5) or millicores (250m)."
});
string_schema!(MemoryQuantity, "MemoryQuantity", {
    "x-kubernetes-int-or-string": true,
    "description": "Memory: bytes with an optional suffix (512Mi, 2Gi, 1G)."
});
string_schema!(IntOrPercent, "IntOrPercent", {
    "x-kubernetes-int-or-string": true,
    "description": "A count (2) or a percentage (\"20%\")."
});
string_schema!(TimeOfDay, "TimeOfDay", {
    "type": "string",
    "pattern": "^([01]?[0-9]|2[0-4]):[0-5][0-9]$",
    "description": "A time of day, HH:MM, 24-hour."
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_canonically() {
        assert_eq!(Duration::parse("1h30m").unwrap().to_string(), "1h30m");
        assert_eq!(Duration::parse("90m").unwrap().to_string(), "1h30m");
        assert_eq!(Duration::parse("500ms").unwrap().0.as_millis(), 500);
        assert_eq!(Duration::parse("0").unwrap().to_string(), "0s");
        for bad in ["", "10", "5x", "m", "-5s", "1.5h", "99999999999999999999h"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpu_quantities_are_millicores() {
        assert_eq!(CpuQuantity::parse("250m").unwrap().0, 250);
        assert_eq!(CpuQuantity::parse("1.5").unwrap().0, 1500);
        assert_eq!(CpuQuantity::parse("2").unwrap().to_string(), "2");
        assert_eq!(CpuQuantity::parse("-1").unwrap().0, -1000);
        assert!(CpuQuantity::parse("0.0001").is_err());
        assert!(CpuQuantity::parse("lots").is_err());
    }

    #[test]
    fn memory_quantities_take_binary_and_decimal_suffixes() {
        assert_eq!(MemoryQuantity::parse("512Mi").unwrap().0, 512 << 20);
        assert_eq!(MemoryQuantity::parse("1G").unwrap().0, 1_000_000_000);
        assert_eq!(MemoryQuantity::parse("2Gi").unwrap().to_string(), "2Gi");
        assert_eq!(MemoryQuantity::parse("1500").unwrap().to_string(), "1500");
        assert!(MemoryQuantity::parse("2GB").is_err());
    }

    #[test]
    fn int_or_percent_rounds_percentages_up() {
        assert_eq!(IntOrPercent::parse("20%").unwrap().resolve(7), 2);
        assert_eq!(IntOrPercent::parse("3").unwrap().resolve(7), 3);
        assert!(IntOrPercent::parse("x%").is_err());
    }

    #[test]
    fn times_of_day_are_24_hour() {
        assert_eq!(TimeOfDay::parse("6:05").unwrap().to_string(), "06:05");
        assert_eq!(TimeOfDay::parse("24:00").unwrap().minutes, 1440);
        for bad in ["25:00", "12:60", "1200", "24:01", "ab:cd"] {
            assert!(TimeOfDay::parse(bad).is_err(), "{bad}");
        }
    }
}
