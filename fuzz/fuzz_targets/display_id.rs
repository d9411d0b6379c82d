//! Display ids: the check never panics, accepts only `UP-` and five
//! unambiguous characters, and accepts every id the generator makes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uphill::domain::order::{is_display_id, new_display_id};

fuzz_target!(|s: &str| {
    if is_display_id(s) {
        assert_eq!(s.len(), 8);
        assert!(s.starts_with("UP-"));
        assert!(!s[3..].contains(['0', 'O', '1', 'I', 'L']), "{s:?}");
    }
    assert!(is_display_id(&new_display_id()));
});
