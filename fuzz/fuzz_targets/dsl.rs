//! Any bytes as a `.kilter` file: parse, lower, decode, check and format must not panic;
//! formatting what formats must be stable, and a valid file formats and converts (both ways)
//! to text that reads back as the same objects.
#![no_main]

mod roundtrip;

use kilter::syntax::source::SourceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new("fuzz.kilter", text);
    let (_, valid, mine) = roundtrip::lint(&file);
    if valid {
        roundtrip::converts_back(&file, &mine);
    }
    if let Ok(once) = kilter::syntax::dsl::fmt::format(&file) {
        let again = kilter::syntax::dsl::fmt::format(&SourceFile::new("fuzz.kilter", once.clone()))
            .expect("formatted output parses");
        assert_eq!(again, once, "fmt is idempotent");
        if valid {
            assert_eq!(
                roundtrip::objects("fmt.kilter", &once),
                mine,
                "fmt keeps the model"
            );
        }
    }
});
