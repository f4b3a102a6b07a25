//! `/v1/listen` and `/v2/listen` query strings: parsed, validated, refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let query = String::from_utf8_lossy(data);
    if let Ok(p) = hark_proto::ListenParams::from_query(&query) {
        let _ = p.result_channels();
    }
    if let Ok(f) = hark_proto::FluxParams::from_query(&query) {
        let _ = f.listen_params();
    }
});
