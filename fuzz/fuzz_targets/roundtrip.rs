//! What the `dsl` and `yaml` targets both check of a valid file.

use std::sync::Arc;

use kilter::model::Object;
use kilter::syntax::source::SourceFile;

/// The objects of a file that lints clean.
pub fn objects(name: &str, text: &str) -> Vec<Object> {
    let out = kilter::lint::lint_text(name, text);
    assert!(
        !out.has_errors(),
        "{name} does not read back: {:?}\n{text}",
        out.diagnostics
    );
    out.documents.into_iter().filter_map(|d| d.object).collect()
}

/// Lints a file and renders a few of its diagnostics for people (enough to exercise
/// rendering; all of them would dominate the run time). Returns the lint output, whether the
/// file is valid, and its valid objects.
pub fn lint(file: &Arc<SourceFile>) -> (Vec<kilter::syntax::diag::Diagnostic>, bool, Vec<Object>) {
    let out = kilter::lint::lint(std::slice::from_ref(file));
    for d in out.diagnostics.iter().take(4) {
        let _ = kilter::syntax::diag::render_human(d, false);
    }
    let valid = !out.has_errors();
    let objects = out
        .documents
        .into_iter()
        .filter(|d| d.valid)
        .filter_map(|d| d.object)
        .collect();
    (out.diagnostics, valid, objects)
}

/// A valid file converts, both ways, to text that reads back as the same objects.
pub fn converts_back(file: &Arc<SourceFile>, mine: &[Object]) {
    if let Ok(yaml) = kilter::syntax::convert::file_to_yaml(file) {
        assert_eq!(
            objects("back.yaml", &yaml),
            mine,
            "convert --to yaml keeps the model"
        );
    }
    if let Ok(dsl) = kilter::syntax::convert::file_to_dsl(file) {
        assert_eq!(
            objects("back.kilter", &dsl),
            mine,
            "convert --to dsl keeps the model"
        );
    }
}
