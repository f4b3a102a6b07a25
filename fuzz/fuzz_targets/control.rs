//! Client text frames on `/v1/listen` and `/v2/listen`: a control message or an error, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = hark_proto::parse_control(&text);
    if let Ok(hark_proto::FluxControl::Configure(c)) = hark_proto::parse_flux_control(&text) {
        let _ = hark_proto::FluxThresholds::default().updated(c.thresholds);
    }
});
