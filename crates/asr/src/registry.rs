//! `?model=` → loaded engine.
//!
//! Existing clients ask for Deepgram model names (`nova-3`, `general`, `base`, …) or send
//! `model=None`; those all map to the default model so clients work without edits. A name that
//! matches a loaded model or a configured alias selects it. Anything else is refused before the
//! upgrade with Deepgram's "No such model" error.

use crate::error::AsrError;
use crate::scheduler::Scheduler;
use std::collections::BTreeMap;

/// Deepgram model names (PROTOCOL.md §2) that resolve to the default model.
pub const DEEPGRAM_MODEL_NAMES: &[&str] = &[
    "nova-3",
    "nova-3-general",
    "nova-3-medical",
    "nova-2",
    "nova-2-general",
    "nova-2-meeting",
    "nova-2-finance",
    "nova-2-conversationalai",
    "nova-2-voicemail",
    "nova-2-video",
    "nova-2-medical",
    "nova-2-drivethru",
    "nova-2-automotive",
    "nova-2-phonecall",
    "nova",
    "nova-general",
    "nova-phonecall",
    "nova-medical",
    "enhanced",
    "enhanced-general",
    "enhanced-meeting",
    "enhanced-phonecall",
    "enhanced-finance",
    "base",
    "base-general",
    "general",
    "meeting",
    "phonecall",
    "finance",
    "conversationalai",
    "voicemail",
    "video",
    "custom",
    "whisper",
    "whisper-tiny",
    "whisper-base",
    "whisper-small",
    "whisper-medium",
    "whisper-large",
];

/// The loaded models and how names reach them.
#[derive(Clone, Default)]
pub struct ModelRegistry {
    models: BTreeMap<String, Scheduler>,
    aliases: BTreeMap<String, String>,
    default: Option<String>,
}

impl ModelRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a model under its descriptor name; the first one added becomes the default.
    pub fn insert(&mut self, scheduler: Scheduler) {
        let name = scheduler.descriptor().name.clone();
        if self.default.is_none() {
            self.default = Some(name.clone());
        }
        self.models.insert(name, scheduler);
    }

    /// Make `alias` select the model called `target`.
    pub fn alias(&mut self, alias: impl Into<String>, target: impl Into<String>) {
        self.aliases.insert(alias.into(), target.into());
    }

    pub fn set_default(&mut self, name: impl Into<String>) {
        self.default = Some(name.into());
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    pub fn schedulers(&self) -> impl Iterator<Item = &Scheduler> {
        self.models.values()
    }

    /// Resolve a requested model name (`None` = not given).
    pub fn resolve(&self, requested: Option<&str>) -> Result<&Scheduler, AsrError> {
        let default = || {
            self.default
                .as_ref()
                .and_then(|d| self.models.get(d))
                .ok_or(AsrError::NoModel)
        };
        let Some(name) = requested else {
            return default();
        };
        if let Some(s) = self.models.get(name) {
            return Ok(s);
        }
        if let Some(target) = self.aliases.get(name) {
            return self
                .models
                .get(target)
                .ok_or_else(|| AsrError::UnknownModel(name.to_owned()));
        }
        // Multichannel per-channel model lists (`a:b`, Rust SDK) use the first name.
        if let Some((first, _)) = name.split_once(':') {
            return self.resolve(Some(first));
        }
        if DEEPGRAM_MODEL_NAMES.contains(&name) {
            return default();
        }
        Err(AsrError::UnknownModel(name.to_owned()))
    }
}
