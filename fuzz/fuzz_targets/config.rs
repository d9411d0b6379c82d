//! Config text plus one `UPHILL_*` variable: parsing never panics, and a
//! config that parses also validates its derived values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Everything after the first NUL is an environment variable `K=V`.
    let (toml, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> = env
        .split_once('=')
        .map(|(k, v)| vec![(k.to_string(), v.to_string())])
        .unwrap_or_default();
    if let Ok(c) = uphill::config::Config::from_toml(toml, env) {
        assert!(c.bind_addr().is_ok());
        assert!(c.campus_tz().is_ok());
        assert!(c.trusted_proxies().is_ok());
    }
});
