use super::*;
use crate::engine::{DecodeOptions, WordTiming};
use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier, Mutex};

/// Records batch sizes; the first call waits on a barrier so later jobs pile up behind it.
struct Recorder {
    descriptor: ModelDescriptor,
    batches: Batches,
    gate: Option<(std::sync::mpsc::Sender<()>, Arc<Barrier>)>,
}

impl Engine for Recorder {
    fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }
    fn sample_rate_hz(&self) -> u32 {
        16_000
    }
    fn max_window_samples(&self) -> usize {
        16_000
    }
    fn transcribe_batch(&mut self, windows: &[AudioWindow]) -> Result<Vec<Transcript>, AsrError> {
        if let Some((entered, release)) = self.gate.take() {
            let _ = entered.send(());
            release.wait();
        }
        if windows.iter().any(|w| w.samples.is_empty()) {
            panic!("empty window");
        }
        self.batches.lock().map(|mut b| b.push(windows.len())).ok();
        Ok(windows
            .iter()
            .map(|w| Transcript {
                words: vec![WordTiming {
                    text: format!("n{}", w.samples.len()),
                    start_s: 0.0,
                    end_s: 0.1,
                    confidence: 1.0,
                }],
                language: None,
            })
            .collect())
    }
}

fn descriptor() -> ModelDescriptor {
    ModelDescriptor {
        name: "rec".into(),
        version: "1".into(),
        arch: "test".into(),
        uuid: "u".into(),
    }
}

/// Batch sizes as the engine saw them.
type Batches = Arc<Mutex<Vec<usize>>>;

/// A recorder whose first call signals `entered` and then waits for `gate`.
fn gated() -> (Recorder, Batches, Arc<Barrier>, Receiver<()>) {
    let batches = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Barrier::new(2));
    let (entered_tx, entered) = channel();
    let engine = Recorder {
        descriptor: descriptor(),
        batches: Arc::clone(&batches),
        gate: Some((entered_tx, Arc::clone(&gate))),
    };
    (engine, batches, gate, entered)
}

fn window(n: usize) -> AudioWindow {
    AudioWindow {
        samples: vec![0.0; n],
        options: DecodeOptions::default(),
        withdrawn: None,
    }
}

#[test]
fn queued_windows_run_as_one_batch_in_order() {
    let (engine, batches, gate, entered) = gated();
    let s = Scheduler::spawn(
        Box::new(engine),
        SchedulerConfig {
            max_streams: 4,
            max_batch: 8,
            queue_capacity: 16,
            max_bulk_batch: 2,
        },
    )
    .expect("spawn");
    let (tx, rx) = channel();
    for n in 1..=6 {
        let tx = tx.clone();
        let mut w = window(n);
        // Two of them sent ahead of a decode (counted apart; no other difference here).
        w.options.stream = Some(crate::StreamKey {
            stream: 1,
            segment_start: 0,
            last: false,
            ahead: n % 3 == 0,
        });
        s.submit(
            w,
            Box::new(move |r| {
                let _ = tx.send(r.map(|t| t.words[0].text.clone()));
            }),
        )
        .expect("submit");
        if n == 1 {
            entered.recv().expect("engine busy with the first window");
        }
    }
    gate.wait(); // the first batch (1 window) finishes; the other five were queued behind it
    let got: Vec<_> = (0..6)
        .map(|_| rx.recv().expect("reply").expect("ok"))
        .collect();
    assert_eq!(got, ["n1", "n2", "n3", "n4", "n5", "n6"]);
    assert_eq!(*batches.lock().expect("lock"), vec![1, 5]);
    let c = s.counters();
    assert_eq!((c.calls, c.windows, c.windows_ahead), (2, 6, 2));
}

#[test]
fn slots_are_admission_control() {
    let engine = Recorder {
        descriptor: descriptor(),
        batches: Arc::default(),
        gate: None,
    };
    let s = Scheduler::spawn(
        Box::new(engine),
        SchedulerConfig {
            max_streams: 3,
            max_batch: 8,
            queue_capacity: 16,
            max_bulk_batch: 2,
        },
    )
    .expect("spawn");
    let a = s.acquire(2).expect("two slots");
    assert!(matches!(
        s.acquire(2),
        Err(AsrError::AtCapacity { capacity: 3, .. })
    ));
    let b = s.acquire(1).expect("last slot");
    assert_eq!(s.streams_in_use(), 3);
    drop(a);
    drop(b);
    assert_eq!(s.streams_in_use(), 0);
}

#[test]
fn a_panicking_engine_reports_an_error_and_keeps_serving() {
    let engine = Recorder {
        descriptor: descriptor(),
        batches: Arc::default(),
        gate: None,
    };
    let s = Scheduler::spawn(Box::new(engine), SchedulerConfig::default()).expect("spawn");
    let (tx, rx) = channel();
    let tx2 = tx.clone();
    s.submit(
        window(0),
        Box::new(move |r| {
            let _ = tx.send(r.is_ok());
        }),
    )
    .expect("submit");
    assert!(!rx.recv().expect("reply"));
    s.submit(
        window(5),
        Box::new(move |r| {
            let _ = tx2.send(r.is_ok());
        }),
    )
    .expect("submit");
    assert!(rx.recv().expect("reply"));
}

#[test]
fn windows_due_now_run_before_deferrable_ones_and_stale_ones_are_withdrawn() {
    let (engine, batches, gate, entered) = gated();
    let s = Scheduler::spawn(Box::new(engine), SchedulerConfig::default()).expect("spawn");
    let (tx, rx) = channel();
    let reply = |tx: &std::sync::mpsc::Sender<String>| -> Reply {
        let tx = tx.clone();
        Box::new(move |r| {
            let _ = tx.send(r.map_or_else(
                |e| match e {
                    AsrError::Cancelled { .. } => "cancelled".to_owned(),
                    e => e.to_string(),
                },
                |t| t.words[0].text.clone(),
            ));
        })
    };
    let running = s.submit_deferrable(window(1), reply(&tx)).expect("interim");
    entered.recv().expect("engine busy with the first interim");
    // Queued behind it: three interims (one of them withdrawn), then two finals.
    s.submit_deferrable(window(2), reply(&tx)).expect("interim");
    let stale = s.submit_deferrable(window(6), reply(&tx)).expect("interim");
    s.submit_deferrable(window(3), reply(&tx)).expect("interim");
    s.submit(window(4), reply(&tx)).expect("final");
    s.submit(window(5), reply(&tx)).expect("final");
    assert_eq!((s.waiting_windows(), s.waiting_due_windows()), (5, 2));
    stale.cancel();
    // Withdrawn while it runs: the engine may cut it short, and its result is not delivered.
    running.cancel();
    gate.wait();
    let got: Vec<String> = (0..6).map(|_| rx.recv().expect("reply")).collect();
    // The queued withdrawn window is answered without running.
    assert_eq!(got, ["cancelled", "cancelled", "n4", "n5", "n2", "n3"]);
    assert_eq!(*batches.lock().expect("lock"), vec![1, 2, 2]);
    assert_eq!((s.waiting_windows(), s.waiting_due_windows()), (0, 0));
}

#[test]
fn a_deferrable_window_waits_behind_due_ones_once_at_most() {
    let job = |n: usize, deferrable: bool| Job {
        window: AudioWindow {
            withdrawn: deferrable.then(Cancel::default),
            ..window(n)
        },
        reply: Box::new(|_| {}),
        passed_over: false,
        bulk: false,
    };
    let sizes = |b: &[Job]| b.iter().map(|j| j.window.samples.len()).collect::<Vec<_>>();
    let mut queued: VecDeque<Job> = [job(1, true), job(2, false)].into_iter().collect();
    assert_eq!(
        sizes(&next_batch(&mut queued, 16, 16)),
        [2],
        "the final first"
    );
    // A new final arrives before the next call: the interim, passed over once, goes with it.
    queued.push_back(job(3, false));
    assert_eq!(sizes(&next_batch(&mut queued, 16, 16)), [1, 3]);
    assert!(queued.is_empty());
}

#[test]
fn bulk_windows_run_only_when_nothing_else_waits_and_few_at_a_time() {
    let job = |n: usize, due: bool, bulk: bool| Job {
        window: AudioWindow {
            withdrawn: (!due).then(Cancel::default),
            ..window(n)
        },
        reply: Box::new(|_| {}),
        passed_over: false,
        bulk,
    };
    let sizes = |b: &[Job]| b.iter().map(|j| j.window.samples.len()).collect::<Vec<_>>();
    let mut queued: VecDeque<Job> = (10..15).map(|n| job(n, false, true)).collect();
    queued.push_back(job(1, false, false));
    queued.push_back(job(2, true, false));
    // A final first, then the interim (bulk never rides along), then bulk two at a time.
    assert_eq!(sizes(&next_batch(&mut queued, 16, 2)), [2]);
    assert_eq!(sizes(&next_batch(&mut queued, 16, 2)), [1]);
    assert_eq!(sizes(&next_batch(&mut queued, 16, 2)), [10, 11]);
    // A final that arrives meanwhile goes first again, and is never held back by bulk work.
    queued.push_back(job(3, true, false));
    assert_eq!(sizes(&next_batch(&mut queued, 16, 2)), [3]);
    // Alone (no live stream), bulk windows batch up to max_batch.
    assert_eq!(sizes(&next_batch(&mut queued, 16, 16)), [12, 13, 14]);
    assert!(queued.is_empty());
}

#[test]
fn announced_finals_run_in_the_call_of_the_one_before_them() {
    let batches: Batches = Arc::default();
    let engine = Recorder {
        descriptor: descriptor(),
        batches: Arc::clone(&batches),
        gate: None,
    };
    let s = Scheduler::spawn(Box::new(engine), SchedulerConfig::default()).expect("spawn");
    let (tx, rx) = channel();
    let reply = |tx: &std::sync::mpsc::Sender<bool>| -> Reply {
        let tx = tx.clone();
        Box::new(move |r| {
            let _ = tx.send(r.is_ok());
        })
    };
    // Two sessions work out a Finalize each; one submits its final, the other 3 ms later.
    let (first, second) = (s.announce_due(), s.announce_due());
    s.submit(window(1), reply(&tx)).expect("submit");
    drop(first);
    std::thread::sleep(Duration::from_millis(3));
    s.submit(window(2), reply(&tx)).expect("submit");
    drop(second);
    assert!(rx.recv().expect("reply") && rx.recv().expect("reply"));
    assert_eq!(*batches.lock().expect("batches"), vec![2]);
    // Unannounced, a final runs at once.
    s.submit(window(3), reply(&tx)).expect("submit");
    assert!(rx.recv().expect("reply"));
    std::thread::sleep(Duration::from_millis(3));
    s.submit(window(4), reply(&tx)).expect("submit");
    assert!(rx.recv().expect("reply"));
    assert_eq!(*batches.lock().expect("batches"), vec![2, 1, 1]);
}
