//! Any bytes as a YAML file: load, decode, check and render must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = kilter::syntax::source::SourceFile::new("fuzz.yaml", text);
    let out = kilter::lint::lint(std::slice::from_ref(&file));
    for d in &out.diagnostics {
        let _ = kilter::syntax::diag::render_human(d, false);
    }
    let _ = kilter::syntax::diag::render_sarif(&out.diagnostics);
    // A valid file converts, comments attached, in both directions.
    if !out.has_errors() {
        let _ = kilter::syntax::convert::file_to_yaml(&file);
        let _ = kilter::syntax::convert::file_to_dsl(&file);
    }
    let objects: Vec<_> = out.documents.into_iter().filter(|d| d.valid).filter_map(|d| d.object).collect();
    let _ = kilter::syntax::convert::to_yaml(&objects);
    let _ = kilter::syntax::dsl::print::print(&objects);
});
