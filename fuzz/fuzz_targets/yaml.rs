//! Any bytes as a YAML file: load, decode, check and render must not panic, and a valid
//! file converts (both ways) to text that reads back as the same objects.
#![no_main]

use kilter::model::Object;
use kilter::syntax::source::SourceFile;
use libfuzzer_sys::fuzz_target;

/// The objects of a file that lints clean.
fn objects(name: &str, text: &str) -> Vec<Object> {
    let out = kilter::lint::lint_text(name, text);
    assert!(
        !out.has_errors(),
        "{name} does not read back: {:?}\n{text}",
        out.diagnostics
    );
    out.documents.into_iter().filter_map(|d| d.object).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new("fuzz.yaml", text);
    let out = kilter::lint::lint(std::slice::from_ref(&file));
    // A few are enough to exercise rendering; all of them would dominate the run time.
    for d in out.diagnostics.iter().take(4) {
        let _ = kilter::syntax::diag::render_human(d, false);
    }
    let _ = kilter::syntax::diag::render_sarif(&out.diagnostics);
    let valid = !out.has_errors();
    let mine: Vec<Object> = out
        .documents
        .into_iter()
        .filter(|d| d.valid)
        .filter_map(|d| d.object)
        .collect();
    if valid {
        if let Ok(yaml) = kilter::syntax::convert::file_to_yaml(&file) {
            assert_eq!(
                objects("back.yaml", &yaml),
                mine,
                "convert --to yaml keeps the model"
            );
        }
        if let Ok(dsl) = kilter::syntax::convert::file_to_dsl(&file) {
            assert_eq!(
                objects("back.kilter", &dsl),
                mine,
                "convert --to dsl keeps the model"
            );
        }
    }
    let _ = kilter::syntax::convert::to_yaml(&mine);
    let _ = kilter::syntax::dsl::print::print(&mine);
});
