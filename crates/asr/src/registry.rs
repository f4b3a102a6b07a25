//! `?model=` → loaded engine.
//!
//! A name that matches a loaded model or a configured alias selects it; names routed to the
//! default (the server routes Deepgram's `nova-3`, `general`, `base`, … there, so clients work
//! without edits) and no name at all select the default model. Anything else is an error, which
//! the server turns into Deepgram's "No such model" before the upgrade.

use crate::error::AsrError;
use crate::scheduler::Scheduler;
use std::collections::{BTreeMap, BTreeSet};

/// The loaded models and how names reach them.
#[derive(Clone, Default)]
pub struct ModelRegistry {
    models: BTreeMap<String, Scheduler>,
    aliases: BTreeMap<String, String>,
    default: Option<String>,
    /// Names that select the default model, whichever it is.
    to_default: BTreeSet<String>,
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

    /// Make each of `names` select the default model (unless a model or alias has that name).
    pub fn route_to_default(&mut self, names: &[&str]) {
        self.to_default
            .extend(names.iter().map(|n| (*n).to_owned()));
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
        if self.to_default.contains(name) {
            return default();
        }
        Err(AsrError::UnknownModel(name.to_owned()))
    }
}
