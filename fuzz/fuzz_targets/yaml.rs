//! Any bytes as a YAML file: load, decode, check and render must not panic, and a valid
//! file converts (both ways) to text that reads back as the same objects.
#![no_main]

mod roundtrip;

use kilter::syntax::source::SourceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new("fuzz.yaml", text);
    let (diagnostics, valid, mine) = roundtrip::lint(&file);
    let _ = kilter::syntax::diag::render_sarif(&diagnostics);
    if valid {
        roundtrip::converts_back(&file, &mine);
    }
    let _ = kilter::syntax::convert::to_yaml(&mine);
    let _ = kilter::syntax::dsl::print::print(&mine);
});
