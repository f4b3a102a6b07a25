//! Taking an engine's reply back to the async task that asked: [`ReplyTo`] sends
//! `(key, result)` on a channel, and says so if the reply is dropped unsent (the engine's thread
//! is gone), so that nothing waits for ever. The channels are unbounded, but hold at most one
//! message per decode in flight, and both users bound those (the session's in-flight windows, a
//! pre-recorded job's `MAX_WINDOWS_IN_FLIGHT`).

use hark_asr::{Reply, Transcript};
use tokio::sync::mpsc;

/// A transcript, or why there is none.
pub type Answer = Result<Transcript, String>;

pub struct ReplyTo<K: Send + 'static> {
    tx: Option<mpsc::UnboundedSender<(K, Answer)>>,
    key: Option<K>,
}

impl<K: Send + 'static> ReplyTo<K> {
    /// The engine's reply for the decode `key`, sent on `tx`.
    pub fn reply(tx: &mpsc::UnboundedSender<(K, Answer)>, key: K) -> Reply {
        let to = Self {
            tx: Some(tx.clone()),
            key: Some(key),
        };
        Box::new(move |r| to.send(r.map_err(|e| e.to_string())))
    }

    fn send(mut self, answer: Answer) {
        if let (Some(tx), Some(key)) = (self.tx.take(), self.key.take()) {
            let _ = tx.send((key, answer));
        }
    }
}

impl<K: Send + 'static> Drop for ReplyTo<K> {
    fn drop(&mut self) {
        if let (Some(tx), Some(key)) = (self.tx.take(), self.key.take()) {
            let _ = tx.send((key, Err("the engine dropped the window".to_owned())));
        }
    }
}
