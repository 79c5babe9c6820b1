//! Who is calling: the signed-in identity the bridge attaches to each
//! request (an [`Identity`] request extension), from its session cookie or
//! a configured bearer token. Requests without one are anonymous.

/// A caller the bridge recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's entity ref, e.g. `user:default/guest`.
    pub user_entity_ref: String,
    /// How the caller proved it: the bearer token it sent (forwarded by
    /// proxy endpoints with `credentials: forward`), if any.
    pub token: Option<String>,
}
