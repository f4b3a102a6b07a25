//! The encoder shortcut (`Whisper::remember_silence`, `hark serve --encoder-shortcut`): a window
//! is encoded only as far as its audio goes, the rest of the 30 s input taken from one pass over
//! silence. On silence itself that must be exact, which checks that the remembered keys, values
//! and decoder tail line up with the positions they stand for. (What it does to words is
//! measured on real weights: `bench/encoder_shortcut.sh`.)

use candle_core::{Device, Tensor};

mod support;
use support::{engine, rel_err, vec_f32};

#[test]
fn a_silent_window_encodes_and_decodes_as_the_full_pass_does() {
    let mut e = engine();
    assert!(!e.model().remembers_silence(), "off by default");
    e.set_encoder_shortcut(true).expect("shortcut");
    let full = e.model().config.max_source_positions;
    let n_mels = e.model().config.num_mel_bins;
    let tokens: Vec<u32> = vec![1, 5, 9, 14];
    let ids = Tensor::from_vec(tokens.clone(), (1, tokens.len()), &Device::Cpu).expect("ids");
    let logits = |e: &hark_asr_whisper::WhisperEngine, frames: usize| {
        let model = e.model();
        let enc = model
            .encode(&[vec![0f32; n_mels * frames]], frames)
            .expect("encode");
        assert_eq!(
            enc.dims()[1],
            frames / 2,
            "only the given frames are computed"
        );
        let mut state = model.decoder.start(&enc).expect("start");
        assert_eq!(state.audio_positions().expect("width"), full);
        let (logits, _) = model.decoder.step(&ids, &mut state, false).expect("step");
        (vec_f32(&enc), vec_f32(&logits))
    };
    let (enc_short, logits_short) = logits(&e, 60);
    e.set_encoder_shortcut(false).expect("full");
    assert!(!e.model().remembers_silence());
    let (enc_full, logits_full) = logits(&e, 2 * full);
    let d = e.model().config.d_model;
    let err = rel_err(&enc_short, &enc_full[..30 * d]);
    assert!(err <= 1e-4, "encoder: relative error {err}");
    let err = rel_err(&logits_short, &logits_full);
    assert!(err <= 1e-4, "decoder: relative error {err}");
    // Audio in the window: the computed positions differ from silence's, so the tail the decoder
    // attends to is still silence's but the logits are not.
    e.set_encoder_shortcut(true).expect("shortcut again");
    let mut mel = vec![0f32; n_mels * 60];
    for (i, v) in mel.iter_mut().enumerate() {
        if i % 60 < 40 {
            *v = ((i * 7919 % 1000) as f32 / 500.0) - 1.0;
        }
    }
    let enc = e.model().encode(&[mel], 60).expect("encode");
    let err = rel_err(&vec_f32(&enc), &enc_short);
    assert!(err > 1e-2, "audio changes the computed positions");
}
