//! `Idempotency-Key` validation accepts exactly 1–100 visible ASCII bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|key: &str| {
    let expected = (1..=100).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    assert_eq!(
        uphill::domain::order::check_idempotency_key(key).is_ok(),
        expected,
        "{key:?}"
    );
});
