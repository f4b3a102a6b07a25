//! One inference thread per engine: wake on work, batch everything queued, reply per window.
//! Windows whose results are due now (finals) run before deferrable ones (interims): when both
//! are queued, a call takes only the former, and the latter wait for the next call. A deferrable
//! window waits behind due ones once at most (a session sends its results in order, so an interim
//! that waited for ever would hold back that session's later finals too).
//!
//! Finals asked for together run together: a session working out a `Finalize`'s finals
//! [announces](Scheduler::announce_due) them, and a call about to run due windows after an
//! announcement waits until none is announced and nothing was submitted for [`GATHER_QUIET`]
//! (at most [`GATHER_MAX`]): a `Finalize` whose final missed the call by a millisecond waited for
//! all of it. (Endpoint finals are not held: gathering them too made them later in the live
//! benchmark, one large call instead of several small ones.)
//!
//! Bulk windows (pre-recorded transcription) come last: a call takes them only when nothing else
//! is queued, and while live streams hold slots at most `max_bulk_batch` of them, so that a final
//! arriving meanwhile waits for a short call rather than a long one. Alone, bulk windows batch
//! up to `max_batch`.

use crate::cancel::Cancel;
use crate::engine::{AudioWindow, Engine, ModelDescriptor, Transcript};
use crate::error::AsrError;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a call about to run due windows waits for announced ones (the unit tests wait
/// longer, so that a busy machine cannot fail them).
pub const GATHER_MAX: Duration = if cfg!(test) {
    Duration::from_secs(5)
} else {
    Duration::from_millis(10)
};
/// After an announcement, a call about to run due windows starts once nothing was submitted for
/// this long (and none is announced): `Finalize` messages sent at once reach the queue a little
/// apart.
pub const GATHER_QUIET: Duration = Duration::from_millis(1);

/// Called once with the transcript of a submitted window (on the inference thread: keep it cheap).
pub type Reply = Box<dyn FnOnce(Result<Transcript, AsrError>) + Send>;

struct Job {
    /// Deferrable (an interim) when it carries a withdrawal handle, else due now.
    window: AudioWindow,
    reply: Reply,
    /// A call has already run due windows ahead of it: it goes with the next one.
    passed_over: bool,
    /// Pre-recorded work: runs only when nothing else waits.
    bulk: bool,
}

/// Capacity settings (inert data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Concurrent streams (channels) admitted; one more is refused.
    pub max_streams: usize,
    /// Most windows run in one model call.
    pub max_batch: usize,
    /// Windows that may wait in the queue.
    pub queue_capacity: usize,
    /// Most bulk windows in one call while live streams hold slots.
    pub max_bulk_batch: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_streams: 64,
            max_batch: 16,
            queue_capacity: 256,
            max_bulk_batch: 1,
        }
    }
}

/// A scheduler's work since start ([`Scheduler::counters`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Model calls.
    pub calls: u64,
    /// Windows run, those sent ahead included.
    pub windows: u64,
    /// Of those, windows sent ahead of a decode ([`crate::StreamKey::ahead`]): audio taken in, no
    /// transcript.
    pub windows_ahead: u64,
}

struct Shared {
    descriptor: ModelDescriptor,
    sample_rate_hz: u32,
    max_window_samples: usize,
    takes_audio_ahead: bool,
    config: SchedulerConfig,
    streams_in_use: AtomicUsize,
    batches_run: AtomicU64,
    windows_run: AtomicU64,
    windows_ahead_run: AtomicU64,
    /// Windows submitted and not yet taken by the inference thread.
    waiting: AtomicUsize,
    /// Of those, the ones due now (not deferrable).
    waiting_due: AtomicUsize,
    /// Due windows announced and not submitted yet.
    announced: AtomicUsize,
    /// Announcements ever made.
    announcements: AtomicU64,
}

impl Shared {
    /// Add (`up`) or remove `n` waiting windows, due now or deferrable.
    fn count(&self, due: bool, n: usize, up: bool) {
        let counters = [Some(&self.waiting), due.then_some(&self.waiting_due)];
        for c in counters.into_iter().flatten() {
            if up {
                c.fetch_add(n, Ordering::AcqRel);
            } else {
                c.fetch_sub(n, Ordering::AcqRel);
            }
        }
    }
}

/// Handle to an engine's inference thread. Cheap to clone; the thread stops when the last handle goes.
#[derive(Clone)]
pub struct Scheduler {
    tx: SyncSender<Job>,
    shared: Arc<Shared>,
}

/// A held stream slot; released on drop.
pub struct StreamSlot {
    shared: Arc<Shared>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.shared.streams_in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A due window about to be submitted ([`Scheduler::announce_due`]); the announcement ends on drop.
pub struct DueAnnounced {
    shared: Arc<Shared>,
}

impl Drop for DueAnnounced {
    fn drop(&mut self) {
        self.shared.announced.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Scheduler {
    /// Start the inference thread for `engine`.
    pub fn spawn(engine: Box<dyn Engine>, config: SchedulerConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            descriptor: engine.descriptor().clone(),
            sample_rate_hz: engine.sample_rate_hz(),
            max_window_samples: engine.max_window_samples(),
            takes_audio_ahead: engine.takes_audio_ahead(),
            config,
            streams_in_use: AtomicUsize::new(0),
            batches_run: AtomicU64::new(0),
            windows_run: AtomicU64::new(0),
            windows_ahead_run: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            waiting_due: AtomicUsize::new(0),
            announced: AtomicUsize::new(0),
            announcements: AtomicU64::new(0),
        });
        let (tx, rx) = sync_channel(config.queue_capacity.max(1));
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("hark-infer-{}", shared.descriptor.name))
            .spawn(move || run(engine, rx, &thread_shared))?;
        Ok(Self { tx, shared })
    }

    pub fn descriptor(&self) -> &ModelDescriptor {
        &self.shared.descriptor
    }

    pub fn sample_rate_hz(&self) -> u32 {
        self.shared.sample_rate_hz
    }

    pub fn max_window_samples(&self) -> usize {
        self.shared.max_window_samples
    }

    /// [`Engine::takes_audio_ahead`] of the engine.
    pub fn takes_audio_ahead(&self) -> bool {
        self.shared.takes_audio_ahead
    }

    pub fn config(&self) -> SchedulerConfig {
        self.shared.config
    }

    /// Streams currently holding a slot.
    pub fn streams_in_use(&self) -> usize {
        self.shared.streams_in_use.load(Ordering::Acquire)
    }

    /// Windows queued behind the one the engine is running now: a measure of overload.
    pub fn waiting_windows(&self) -> usize {
        self.shared.waiting.load(Ordering::Acquire)
    }

    /// Of [`Self::waiting_windows`], those due now (finals): while there are any, a new
    /// deferrable window would only delay them.
    pub fn waiting_due_windows(&self) -> usize {
        self.shared.waiting_due.load(Ordering::Acquire)
    }

    /// What the engine has run since start.
    pub fn counters(&self) -> Counters {
        Counters {
            calls: self.shared.batches_run.load(Ordering::Relaxed),
            windows: self.shared.windows_run.load(Ordering::Relaxed),
            windows_ahead: self.shared.windows_ahead_run.load(Ordering::Relaxed),
        }
    }

    /// Reserve `n` stream slots at once (one per channel), or refuse.
    pub fn acquire(&self, n: usize) -> Result<Vec<StreamSlot>, AsrError> {
        let max = self.shared.config.max_streams;
        let mut used = self.shared.streams_in_use.load(Ordering::Acquire);
        loop {
            if used + n > max {
                return Err(AsrError::AtCapacity {
                    model: self.shared.descriptor.name.clone(),
                    capacity: max,
                });
            }
            match self.shared.streams_in_use.compare_exchange(
                used,
                used + n,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => used = now,
            }
        }
        Ok((0..n)
            .map(|_| StreamSlot {
                shared: Arc::clone(&self.shared),
            })
            .collect())
    }

    /// A due window will be submitted soon (a session is working out a `Finalize`'s finals): a
    /// call about to run due windows waits for it (at most [`GATHER_MAX`]) until the returned
    /// guard is dropped, and for others that come within [`GATHER_QUIET`]; submit before
    /// dropping it.
    pub fn announce_due(&self) -> DueAnnounced {
        self.shared.announced.fetch_add(1, Ordering::AcqRel);
        self.shared.announcements.fetch_add(1, Ordering::AcqRel);
        DueAnnounced {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Queue a window whose result is due now (a final); `reply` is called with its transcript.
    /// Never blocks.
    pub fn submit(&self, mut window: AudioWindow, reply: Reply) -> Result<(), AsrError> {
        // Due windows are never withdrawn.
        window.withdrawn = None;
        self.send(window, reply)
    }

    /// Queue a window whose result may wait behind those due now (an interim); the handle
    /// withdraws it while it waits (a final for the same audio has made it stale).
    pub fn submit_deferrable(
        &self,
        mut window: AudioWindow,
        reply: Reply,
    ) -> Result<Cancel, AsrError> {
        let cancel = Cancel::default();
        window.withdrawn = Some(cancel.clone());
        self.send(window, reply)?;
        Ok(cancel)
    }

    /// Queue a window of pre-recorded work: it runs only when nothing else waits (see the module
    /// docs); the handle withdraws it while it waits.
    pub fn submit_bulk(&self, mut window: AudioWindow, reply: Reply) -> Result<Cancel, AsrError> {
        let cancel = Cancel::default();
        window.withdrawn = Some(cancel.clone());
        self.send_job(window, reply, true)?;
        Ok(cancel)
    }

    fn send(&self, window: AudioWindow, reply: Reply) -> Result<(), AsrError> {
        self.send_job(window, reply, false)
    }

    fn send_job(&self, window: AudioWindow, reply: Reply, bulk: bool) -> Result<(), AsrError> {
        let model = || self.shared.descriptor.name.clone();
        // Counted before sending so the inference thread never takes it below zero.
        let due = job_is_due(&window);
        self.shared.count(due, 1, true);
        let job = Job {
            window,
            reply,
            passed_over: false,
            bulk,
        };
        self.tx.try_send(job).map_err(|e| {
            self.shared.count(due, 1, false);
            match e {
                TrySendError::Full(_) => AsrError::QueueFull { model: model() },
                TrySendError::Disconnected(_) => AsrError::EngineStopped { model: model() },
            }
        })
    }
}

/// Due now (a final) rather than deferrable: only deferrable windows carry a withdrawal handle.
fn job_is_due(window: &AudioWindow) -> bool {
    window.withdrawn.is_none()
}

/// The next batch: every queued job that is due now (and deferrable ones already passed over
/// once), else the oldest deferrable ones, else up to `max_bulk` bulk ones; up to `max_batch`,
/// in submission order. What is left stays in `queued`.
fn next_batch(queued: &mut VecDeque<Job>, max_batch: usize, max_bulk: usize) -> Vec<Job> {
    let urgent = queued.iter().any(|j| job_is_due(&j.window));
    let live = queued.iter().any(|j| !j.bulk);
    let mut batch = Vec::new();
    let mut bulk = 0;
    let mut rest = VecDeque::with_capacity(queued.len());
    for mut job in queued.drain(..) {
        let deferred = urgent && !job_is_due(&job.window) && !job.passed_over;
        let take = if job.bulk {
            !live && bulk < max_bulk
        } else {
            !deferred
        };
        if batch.len() < max_batch && take {
            bulk += usize::from(job.bulk);
            batch.push(job);
        } else {
            job.passed_over |= deferred && !job.bulk;
            rest.push_back(job);
        }
    }
    *queued = rest;
    batch
}

/// Before a call runs due windows: the announced ones, and any submitted meanwhile, received as
/// they come, until none is announced and none came for [`GATHER_QUIET`], or [`GATHER_MAX`] has
/// passed.
fn gather_announced(rx: &Receiver<Job>, shared: &Shared, queued: &mut VecDeque<Job>) {
    let started = Instant::now();
    let mut last = started;
    loop {
        let now = Instant::now();
        let quiet = now.duration_since(last) >= GATHER_QUIET;
        if (quiet && shared.announced.load(Ordering::Acquire) == 0)
            || now.duration_since(started) >= GATHER_MAX
        {
            break;
        }
        match rx.recv_timeout(GATHER_QUIET / 4) {
            Ok(job) => {
                queued.push_back(job);
                last = Instant::now();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn run(mut engine: Box<dyn Engine>, rx: Receiver<Job>, shared: &Shared) {
    let max_batch = shared.config.max_batch.max(1);
    // Jobs received and not yet run: at most the channel's capacity, plus interims deferred
    // behind finals (a session has at most one interim in flight per channel).
    let mut queued: VecDeque<Job> = VecDeque::new();
    let mut seen_announcements = 0;
    loop {
        if queued.is_empty() {
            // `recv` blocks until work arrives: no polling.
            match rx.recv() {
                Ok(job) => queued.push_back(job),
                Err(_) => return,
            }
        }
        while let Ok(job) = rx.try_recv() {
            queued.push_back(job);
        }
        let announcements = shared.announcements.load(Ordering::Acquire);
        if queued.iter().any(|j| job_is_due(&j.window)) && announcements != seen_announcements {
            seen_announcements = announcements;
            gather_announced(&rx, shared, &mut queued);
        }
        let model = shared.descriptor.name.clone();
        let (withdrawn, kept): (VecDeque<Job>, VecDeque<Job>) =
            queued.drain(..).partition(|j| j.window.is_withdrawn());
        queued = kept;
        shared.waiting.fetch_sub(withdrawn.len(), Ordering::AcqRel);
        for job in withdrawn {
            (job.reply)(Err(AsrError::Cancelled {
                model: model.clone(),
            }));
        }
        if queued.is_empty() {
            continue;
        }
        // Bulk work batches freely only while no live stream holds a slot.
        let max_bulk = if shared.streams_in_use.load(Ordering::Acquire) > 0 {
            shared.config.max_bulk_batch.max(1)
        } else {
            max_batch
        };
        let jobs = next_batch(&mut queued, max_batch, max_bulk);
        let due = jobs.iter().filter(|j| job_is_due(&j.window)).count();
        shared.count(true, due, false);
        shared.count(false, jobs.len() - due, false);
        let (windows, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| (j.window, j.reply)).unzip();
        let started = std::time::Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| engine.transcribe_batch(&windows)))
            .unwrap_or_else(|_| {
                Err(AsrError::Engine {
                    model: model.clone(),
                    detail: "engine panicked".into(),
                })
            });
        tracing::debug!(
            model = %model,
            windows = windows.len(),
            due,
            samples = windows.iter().map(|w| w.samples.len()).sum::<usize>(),
            ms = started.elapsed().as_millis() as u64,
            "batch run"
        );
        shared.batches_run.fetch_add(1, Ordering::Relaxed);
        shared
            .windows_run
            .fetch_add(windows.len() as u64, Ordering::Relaxed);
        let ahead = windows
            .iter()
            .filter(|w| w.options.stream.is_some_and(|k| k.ahead))
            .count();
        shared
            .windows_ahead_run
            .fetch_add(ahead as u64, Ordering::Relaxed);
        match result {
            Ok(transcripts) if transcripts.len() == replies.len() => {
                for ((reply, t), w) in replies.into_iter().zip(transcripts).zip(&windows) {
                    // Withdrawn while it ran: the engine may have cut it short.
                    reply(if w.is_withdrawn() {
                        Err(AsrError::Cancelled {
                            model: model.clone(),
                        })
                    } else {
                        Ok(t)
                    });
                }
            }
            Ok(transcripts) => {
                let detail = format!(
                    "{} transcripts for {} windows",
                    transcripts.len(),
                    replies.len()
                );
                tracing::error!(model = %model, %detail, "engine broke the batch contract");
                for reply in replies {
                    reply(Err(AsrError::Engine {
                        model: model.clone(),
                        detail: detail.clone(),
                    }));
                }
            }
            Err(e) => {
                tracing::error!(model = %model, error = %e, "batch failed");
                for reply in replies {
                    reply(Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
