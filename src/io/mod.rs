//! Small file-format helpers shared by stages: `.npy` arrays and atomic writes.
pub mod atomic;
pub mod npy;
pub mod png;
