//! Checks on records before they are written: the backend-independent checks of
//! [`mnemo_core::validate`]; SQLite adds none of its own.

pub(crate) use mnemo_core::validate::*;
