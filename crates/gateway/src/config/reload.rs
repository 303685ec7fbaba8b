//! The configuration in force, re-read when either file changes.

use std::path::Path;

use super::{Config, ConfigError};
use crate::watched::Watched;

pub type ConfigHandle = Watched<Config, ConfigError>;

impl ConfigHandle {
    /// Loads both files; fails when the first load fails.
    pub fn load(registry: &Path, policy: &Path) -> Result<Self, ConfigError> {
        let (registry, policy) = (registry.to_path_buf(), policy.to_path_buf());
        let paths = vec![registry.clone(), policy.clone()];
        Watched::new("configuration", paths, move || {
            let config = Config::load(&registry, &policy)?;
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            Ok(config)
        })
    }
}
