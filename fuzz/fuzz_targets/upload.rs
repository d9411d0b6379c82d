//! Upload sniffing and decoding: any bytes are either refused or become an
//! image within the pixel budget with every variant made; never a panic
//! and never an allocation beyond the limits (libFuzzer's -rss_limit_mb
//! catches a bomb that slips through).
#![no_main]

use libfuzzer_sys::fuzz_target;
use uphill::files::image::{check_header, process, sniff};

/// Small, so the fuzzer explores headers rather than spending its time
/// encoding large images.
const MAX_PIXELS: u64 = 256 * 256;

fuzz_target!(|bytes: &[u8]| {
    let header = check_header(bytes, MAX_PIXELS);
    if header.is_ok() {
        assert!(sniff(bytes).is_some());
    }
    if let Ok(p) = process(bytes, MAX_PIXELS) {
        assert!(header.is_ok(), "decoded what the header check refused");
        assert!(u64::from(p.width) * u64::from(p.height) <= MAX_PIXELS);
        assert_eq!(p.variants.len(), 3);
        assert_eq!(p.hash.len(), 64);
    }
});
