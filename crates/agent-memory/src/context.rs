//! TODO: filled in by the foundation work.
