//! TODO: filled in by the store work.
