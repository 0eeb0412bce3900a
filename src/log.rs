//! The library's few messages, one line at each call site.
//!
//! With the feature `tracing` they are [`tracing`](https://docs.rs/tracing)
//! events (target: the emitting module, e.g. `trust::reactor`), for the
//! application's subscriber to filter and route. Without it, a warning is
//! one line on stderr prefixed `trust: ` and a debug event compiles to
//! nothing. Nothing here runs per packet.
//!
//! - [`warn!`](crate::log::warn): something the operator should know: a
//!   fallback (io_uring refused, TUN offloads refused) or a stop (the
//!   reactor's loop failed, a packet capture's write failed);
//! - [`warn_once!`](crate::log::warn_once): the same, said once per process
//!   (the fallbacks, which every interface opened after the first would
//!   repeat);
//! - [`debug!`](crate::log::debug): what an interface was opened on (device,
//!   backend, offloads); only with `tracing`.

/// A warning: a `tracing::warn!` event, or a line on stderr.
macro_rules! warning {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        ::tracing::warn!($($arg)+);
        #[cfg(not(feature = "tracing"))]
        ::std::eprintln!("trust: {}", ::std::format_args!($($arg)+));
    }};
}

/// [`warn!`] the first time this call site runs in the process, never again.
macro_rules! warn_once {
    ($($arg:tt)+) => {{
        static ONCE: ::std::sync::Once = ::std::sync::Once::new();
        ONCE.call_once(|| $crate::log::warn!($($arg)+));
    }};
}

/// A debug event with `tracing`; without it, nothing (the arguments are
/// still type-checked, never evaluated).
macro_rules! debug {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        ::tracing::debug!($($arg)+);
        #[cfg(not(feature = "tracing"))]
        if false {
            let _ = ::std::format_args!($($arg)+);
        }
    }};
}

// `warn` is also a built-in attribute: the macro is defined under another
// name and exported as `crate::log::warn`, always called by its path.
pub(crate) use {debug, warn_once, warning as warn};

#[cfg(all(test, feature = "tracing"))]
mod tests {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    /// Keeps each event's level and message.
    #[derive(Default, Clone)]
    struct Events(Arc<Mutex<Vec<(Level, String)>>>);

    struct Message<'a>(&'a mut String);
    impl Visit for Message<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                *self.0 = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Events {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut message = String::new();
            event.record(&mut Message(&mut message));
            self.0.lock().unwrap().push((*event.metadata().level(), message));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn messages_are_tracing_events() {
        let events = Events::default();
        tracing::subscriber::with_default(events.clone(), || {
            let e = "refused";
            for _ in 0..2 {
                crate::log::warn_once!("io_uring unavailable ({e})");
            }
            crate::log::warn!("reactor stopped: {e}");
            crate::log::debug!("opened on {}", "tun0");
        });
        let got = events.0.lock().unwrap().clone();
        assert_eq!(
            got,
            [
                (Level::WARN, "io_uring unavailable (refused)".to_string()),
                (Level::WARN, "reactor stopped: refused".to_string()),
                (Level::DEBUG, "opened on tun0".to_string()),
            ]
        );
    }
}
