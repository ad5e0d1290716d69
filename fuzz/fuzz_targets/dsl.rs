//! Any bytes as a `.kilter` file: parse, lower, decode, check and format must not panic,
//! and formatting what formats must be stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = kilter::syntax::source::SourceFile::new("fuzz.kilter", text);
    let out = kilter::lint::lint(std::slice::from_ref(&file));
    for d in &out.diagnostics {
        let _ = kilter::syntax::diag::render_human(d, false);
    }
    // A valid file converts, comments attached, in both directions.
    if !out.has_errors() {
        let _ = kilter::syntax::convert::file_to_yaml(&file);
        let _ = kilter::syntax::convert::file_to_dsl(&file);
    }
    if let Ok(once) = kilter::syntax::dsl::fmt::format(&file) {
        let again = kilter::syntax::dsl::fmt::format(&kilter::syntax::source::SourceFile::new("fuzz.kilter", once.clone()))
            .expect("formatted output parses");
        assert_eq!(again, once, "fmt is idempotent");
    }
});
