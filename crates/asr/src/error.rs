use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AsrError {
    /// Every stream slot of the engine is taken.
    #[error("all {capacity} stream slots of model `{model}` are in use")]
    AtCapacity { model: String, capacity: usize },
    /// The inference queue is full; the caller should back off.
    #[error("the inference queue of model `{model}` is full")]
    QueueFull { model: String },
    /// The inference thread has stopped.
    #[error("the inference thread of model `{model}` has stopped")]
    EngineStopped { model: String },
    /// The window was withdrawn before the engine ran it ([`crate::Cancel`]).
    #[error("a window for model `{model}` was withdrawn before it ran")]
    Cancelled { model: String },
    /// The engine failed on a batch.
    #[error("model `{model}` failed: {detail}")]
    Engine { model: String, detail: String },
    /// `?model=` names nothing this server has loaded.
    #[error("no such model `{0}`")]
    UnknownModel(String),
    /// No model is loaded at all.
    #[error("no model is loaded")]
    NoModel,
}
