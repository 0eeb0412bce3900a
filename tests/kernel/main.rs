//! The Linux kernel's TCP as the peer: every test builds its own network
//! namespace with a TUN device in it (see `tests/common/netns.rs`).

#[path = "../common/mod.rs"]
mod common;

mod smoke;
