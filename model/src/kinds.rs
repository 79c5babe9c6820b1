//! Placeholder: replaced by the full kind rules.

use crate::entity::{Entity, EntityError};

/// Which kinds are accepted.
#[derive(Debug, Clone, Default)]
pub struct KindPolicy {
    pub extra_kinds: Vec<String>,
}

/// Checks the kind-specific rules.
pub fn check_kind(_entity: &Entity, _policy: &KindPolicy) -> Result<(), EntityError> {
    Ok(())
}
