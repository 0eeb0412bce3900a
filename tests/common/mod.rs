//! Support shared by integration tests; each test binary uses part of it.
#![allow(dead_code)]

pub mod edge;
pub mod guard;
pub mod mio_echo;
pub mod netns;
pub mod synflood;
