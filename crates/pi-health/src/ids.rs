//! Unguessable identifiers (session ids, CSRF tokens, card ids, nonces,
//! passwords), from the one definition in [`ops_core::contract::ids`]: without
//! the operating system's randomness the caller refuses what it was doing.

pub(crate) use ops_core::contract::ids::{NoRandomness, random_hex};
