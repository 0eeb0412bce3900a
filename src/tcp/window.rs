//! Window arithmetic (RFC 7323 §2): the 16-bit window field a segment
//! carries, the scale the SYNs negotiated, and the window in bytes they
//! stand for, as types, so that a field is never taken for a window
//! without its scale, or shifted the wrong way.

/// The largest shift (RFC 7323 §2.3): a larger one offered is used as 14.
pub const MAX_SCALE: u8 = 14;

/// A window scale shift (RFC 7323 §2.2), at most [`MAX_SCALE`]; zero
/// unless both SYNs carried the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowScale(u8);

impl WindowScale {
    /// No scaling.
    pub const NONE: WindowScale = WindowScale(0);

    /// The scale for a shift offered in a SYN, clamped to [`MAX_SCALE`].
    pub fn new(shift: u8) -> WindowScale {
        WindowScale(shift.min(MAX_SCALE))
    }

    /// The smallest scale whose largest window covers `buffer` bytes.
    pub fn for_buffer(buffer: usize) -> WindowScale {
        let mut shift = 0u8;
        while shift < MAX_SCALE && (65535usize << shift) < buffer {
            shift += 1;
        }
        WindowScale(shift)
    }

    pub fn shift(self) -> u8 {
        self.0
    }
}

/// A segment's window field: unscaled, as carried on the wire (RFC 9293
/// §3.1). [`UnscaledWindow::scale`] is the only way to a window in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnscaledWindow(u16);

impl UnscaledWindow {
    pub const fn new(field: u16) -> UnscaledWindow {
        UnscaledWindow(field)
    }

    /// The field as it goes on the wire.
    pub fn field(self) -> u16 {
        self.0
    }

    /// The window in bytes this field offers under `scale`.
    pub fn scale(self, scale: WindowScale) -> u32 {
        u32::from(self.0) << scale.0
    }

    /// The field that offers at most `window` bytes under `scale` (rounded
    /// down; at most 65535).
    pub fn floor(window: u32, scale: WindowScale) -> UnscaledWindow {
        UnscaledWindow((window >> scale.0).min(65535) as u16)
    }

    /// The field that offers at least `window` bytes under `scale`
    /// (rounded up, so that a right edge held in place never moves left
    /// through rounding, RFC 7323 §2.4; at most 65535).
    pub fn ceil(window: u32, scale: WindowScale) -> UnscaledWindow {
        UnscaledWindow(window.div_ceil(1 << scale.0).min(65535) as u16)
    }
}

impl From<u16> for UnscaledWindow {
    fn from(field: u16) -> UnscaledWindow {
        UnscaledWindow(field)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn rounding_brackets_the_window(window in any::<u32>(), shift in 0u8..=20) {
            let s = WindowScale::new(shift);
            let max = UnscaledWindow::new(u16::MAX).scale(s);
            let (lo, hi) = (UnscaledWindow::floor(window, s), UnscaledWindow::ceil(window, s));
            prop_assert!(lo.scale(s) <= window);
            if window <= max {
                prop_assert!(hi.scale(s) >= window);
                // One scaling unit apart at most; equal when `window` is
                // a whole number of units.
                let unit = 1u32 << s.shift();
                prop_assert!(hi.scale(s) - lo.scale(s) <= unit);
                prop_assert_eq!(hi == lo, window % unit == 0);
            } else {
                prop_assert_eq!(hi.scale(s), max);
            }
        }
    }

    #[test]
    fn scales_are_clamped_and_fit_their_buffers() {
        assert_eq!(WindowScale::new(20).shift(), MAX_SCALE);
        assert_eq!(WindowScale::for_buffer(65535), WindowScale::NONE);
        assert_eq!(WindowScale::for_buffer(65536).shift(), 1);
        assert_eq!(WindowScale::for_buffer(256 * 1024).shift(), 3);
        assert_eq!(WindowScale::for_buffer(usize::MAX).shift(), MAX_SCALE);
        assert_eq!(UnscaledWindow::new(16).scale(WindowScale::new(7)), 2048);
    }
}
