//! Withdrawing a window: shared by the engine's inputs ([`crate::AudioWindow`]) and the
//! scheduler that hands them out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Withdraws a deferrable window: one still queued never runs, one running may be cut short by
/// the engine (see [`crate::AudioWindow::withdrawn`]); either way its reply gets [`crate::AsrError::Cancelled`]
/// instead of a transcript. A reply already sent is not affected.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// The same handle (not merely the same state).
impl PartialEq for Cancel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
