//! The status bar's note: what just happened ("Exported 8 rows to ..."), said for
//! [`NOTE_SECONDS`] from when it is first drawn and then gone, so that an old note is never
//! read as news. Errors are not notes: they stay in red above the tabs until the next load or
//! until the person dismisses them.
//!
//! Time is egui's input time (what the frame says it is), so that a test harness can move it.

/// How long a note stays: long enough to read a path twice, short enough to be gone before
/// the next thing the person does.
pub(super) const NOTE_SECONDS: f64 = 8.0;

/// A note and when it was first drawn.
#[derive(Debug, Default)]
pub(super) struct Note {
    text: Option<String>,
    since: Option<f64>,
}

impl Note {
    /// Says `text` from the next frame on, for [`NOTE_SECONDS`].
    pub fn say(&mut self, text: String) {
        self.text = Some(text);
        self.since = None;
    }

    pub fn clear(&mut self) {
        *self = Note::default();
    }

    /// The note to draw at `now`, and the seconds it has left; `None` once it has been shown
    /// for [`NOTE_SECONDS`] (it is then forgotten).
    pub fn shown_at(&mut self, now: f64) -> Option<(&str, f64)> {
        self.text.as_ref()?;
        let since = *self.since.get_or_insert(now);
        let left = NOTE_SECONDS - (now - since);
        if left <= 0.0 {
            self.clear();
            return None;
        }
        self.text.as_deref().map(|t| (t, left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_counts_from_its_first_frame_and_goes_after_eight_seconds() {
        let mut note = Note::default();
        assert_eq!(note.shown_at(1.0), None, "nothing said");
        note.say("Exported 8 rows to /tmp/a.csv".into());
        assert_eq!(note.shown_at(100.0), Some(("Exported 8 rows to /tmp/a.csv", 8.0)), "first drawn at 100 s");
        assert_eq!(note.shown_at(107.5), Some(("Exported 8 rows to /tmp/a.csv", 0.5)));
        assert_eq!(note.shown_at(108.0), None, "gone at 108 s");
        assert_eq!(note.shown_at(108.5), None, "and forgotten");
    }

    #[test]
    fn a_new_note_starts_its_own_eight_seconds() {
        let mut note = Note::default();
        note.say("first".into());
        assert_eq!(note.shown_at(10.0), Some(("first", 8.0)));
        note.say("second".into());
        assert_eq!(note.shown_at(17.0), Some(("second", 8.0)));
        assert_eq!(note.shown_at(24.0), Some(("second", 1.0)), "the first note's time does not count");
        note.clear();
        assert_eq!(note.shown_at(24.0), None);
    }
}
