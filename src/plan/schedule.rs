//! The plan's clock: which schedule window holds at `now` in a time zone, and `now` as CEL sees it.

use std::sync::Arc;

use cel::Value as CelValue;
use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::expr::map_value;
use crate::model::{Schedule, Weekday};

pub fn weekday_of(d: chrono::Weekday) -> Weekday {
    match d {
        chrono::Weekday::Mon => Weekday::Mon,
        chrono::Weekday::Tue => Weekday::Tue,
        chrono::Weekday::Wed => Weekday::Wed,
        chrono::Weekday::Thu => Weekday::Thu,
        chrono::Weekday::Fri => Weekday::Fri,
        chrono::Weekday::Sat => Weekday::Sat,
        chrono::Weekday::Sun => Weekday::Sun,
    }
}

/// The window of a schedule that contains `now`, described; None outside every window.
pub fn window_now(s: &Schedule, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<String> {
    let local = now.with_timezone(&tz);
    let minute = (local.hour() * 60 + local.minute()) as u16;
    let today = weekday_of(local.weekday());
    let w = s.windows.iter().find(|w| w.holds(today, minute))?;
    let days = if w.days.is_empty() {
        "every day".to_string()
    } else {
        w.days
            .iter()
            .map(|d| format!("{d:?}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    Some(format!("in window {}–{} {days} ({tz})", w.start, w.end))
}

/// `now` for CEL: Unix timestamp, and hour, minute and weekday in the policy's time zone.
pub fn now_value(now: DateTime<Utc>, tz: chrono_tz::Tz) -> CelValue {
    let local = now.with_timezone(&tz);
    map_value(vec![
        ("timestamp", CelValue::Int(now.timestamp())),
        ("hour", CelValue::Int(local.hour() as i64)),
        ("minute", CelValue::Int(local.minute() as i64)),
        (
            "weekday",
            CelValue::String(Arc::new(format!("{:?}", weekday_of(local.weekday())))),
        ),
    ])
}
