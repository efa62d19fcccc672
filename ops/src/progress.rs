//! Progress of long-running work on stderr (indicatif): spinners and byte bars, drawn only when
//! stderr is a terminal and the output is not meant for scripts (`--json`); otherwise hidden
//! bars that draw nothing.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a spinner moves.
const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Whether to draw progress: stderr is a terminal and the output is for people.
pub fn drawn(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

fn style(template: &str, fallback: fn() -> ProgressStyle) -> ProgressStyle {
    // The templates are constants of this module (checked by its tests); the fallback only
    // keeps a typo from ever failing a command.
    ProgressStyle::with_template(template).unwrap_or_else(|_| fallback())
}

const SPINNER_TEMPLATE: &str = "{spinner} {msg} ({elapsed})";
const BYTES_TEMPLATE: &str =
    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)";
const BYTES_UNKNOWN_TEMPLATE: &str = "{spinner} {msg} {bytes} ({bytes_per_sec})";
const COUNT_TEMPLATE: &str = "{spinner} {msg} [{bar:30}] {pos}/{len} ({per_sec}, {elapsed})";

/// A spinner with `message` on stderr (hidden unless `draw`); finish it with
/// `finish_and_clear`.
pub fn spinner(draw: bool, message: impl Into<Cow<'static, str>>) -> ProgressBar {
    if !draw {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(style(SPINNER_TEMPLATE, ProgressStyle::default_spinner))
        .with_message(message);
    bar.enable_steady_tick(TICK_INTERVAL);
    bar
}

/// A bar counting `total` things done (hidden unless `draw`); finish it with
/// `finish_and_clear`.
pub fn counter(draw: bool, total: u64, message: impl Into<Cow<'static, str>>) -> ProgressBar {
    let bar = spinner(draw, message);
    if !bar.is_hidden() {
        bar.set_length(total);
        bar.set_style(style(COUNT_TEMPLATE, ProgressStyle::default_bar).progress_chars("=> "));
    }
    bar
}

/// A download's progress: a bar of bytes once the size is known, a spinner counting bytes
/// until then (or throughout, if the server never says).
#[derive(Debug)]
pub struct Download {
    bar: ProgressBar,
    sized: bool,
}

impl Download {
    /// Progress of downloading `what` (hidden unless `draw`).
    pub fn new(draw: bool, what: impl Into<Cow<'static, str>>) -> Self {
        let bar = spinner(draw, what);
        if !bar.is_hidden() {
            bar.set_style(style(
                BYTES_UNKNOWN_TEMPLATE,
                ProgressStyle::default_spinner,
            ));
        }
        Self { bar, sized: false }
    }

    /// `received` bytes so far, of `total` if known.
    pub fn update(&mut self, received: u64, total: Option<u64>) {
        if let (false, Some(total)) = (self.sized, total) {
            self.sized = true;
            self.bar.set_length(total);
            self.bar
                .set_style(style(BYTES_TEMPLATE, ProgressStyle::default_bar).progress_chars("=> "));
        }
        self.bar.set_position(received);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        for template in [
            SPINNER_TEMPLATE,
            BYTES_TEMPLATE,
            BYTES_UNKNOWN_TEMPLATE,
            COUNT_TEMPLATE,
        ] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn nothing_is_drawn_for_scripts() {
        assert!(!drawn(true));
        assert!(spinner(false, "waiting").is_hidden());
        assert!(counter(false, 10, "committed").is_hidden());
        let mut download = Download::new(false, "backup");
        download.update(10, Some(100));
        download.update(100, Some(100));
        download.finish();
        assert!(download.bar.is_hidden());
        assert_eq!(download.bar.position(), 100);
        assert_eq!(download.bar.length(), Some(100));
    }
}
