//! K008 `time-zone`: a schedule time zone that is not an IANA zone name.

use crate::check::{Rule, Scope};
use crate::model::Object;
use crate::syntax::de::did_you_mean;
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::TIME_ZONE,
    name: "time-zone",
    summary: "A schedule time zone that is not an IANA time zone name.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks: `spec.schedule.timeZone` names a zone of the IANA time zone database
(`Europe/Berlin`, `America/New_York`, `UTC`). Abbreviations such as `CET` or `PST` are
ambiguous and not accepted unless the database itself defines them.

Why: a schedule in the wrong zone runs powersave at peak hours. kilter resolves windows with
daylight-saving rules of the named zone.

Example:

    schedule:
      timeZone: Europe/Berln    # did you mean `Europe/Berlin`?
"#,
};

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    let Object::Policy(p) = obj else { return };
    let Some(tz) = p
        .spec
        .schedule
        .as_ref()
        .and_then(|s| s.time_zone.as_deref())
    else {
        return;
    };
    if tz.parse::<chrono_tz::Tz>().is_err() {
        let help = did_you_mean(tz, chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()))
            .map(|c| format!("did you mean `{c}`?"))
            .unwrap_or_else(|| "use an IANA name such as `Europe/Berlin` or `UTC`".into());
        out.push(
            doc.error(
                crate::syntax::diag::code::TIME_ZONE,
                "spec.schedule.timeZone",
                format!("`{tz}` is not an IANA time zone"),
            )
            .with_help(help),
        );
    }
}
