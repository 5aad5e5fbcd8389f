//! Synthetic scale benchmark (filled in below).
