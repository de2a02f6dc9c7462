//! When an in-process index (keyword or vector) lays its rows out in namespace order again.
//!
//! Both indexes keep each namespace's rows next to each other, so that a scoped search (one
//! user's conversations) reads one stretch of memory. Rows appended since the last layout
//! lie at the end in arrival order; once they outnumber a quarter of the others the index
//! lays everything out again, at an amortized cost of a few moves per row. Rows that arrived
//! in namespace order (a load in that order) already lie together and are taken as laid out.

/// Rows appended since the last layout, beyond a quarter of the others, from which an
/// index lays its rows out again: at least this.
#[cfg(not(test))]
const MIN_APPENDED: usize = 4096;
/// Small in tests, so that writes lay rows out often.
#[cfg(test)]
const MIN_APPENDED: usize = 4;

/// The rows an index appended since it last laid its rows out.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// Rows appended since the last layout.
    appended: usize,
    /// Whether they arrived in namespace order, and the (encoded) namespace of the last.
    in_order: bool,
    last: String,
}

impl Layout {
    /// Notes one row of `namespace` appended to an index now holding `rows` rows; true when
    /// the index should lay its rows out again (then call [`Layout::laid_out`]).
    pub(super) fn appended(&mut self, namespace: &str, rows: usize) -> bool {
        self.in_order = self.appended == 0 || (self.in_order && self.last.as_str() <= namespace);
        if self.last != namespace {
            self.last.clear();
            self.last.push_str(namespace);
        }
        self.appended += 1;
        if self.appended <= (rows.saturating_sub(self.appended) / 4).max(MIN_APPENDED) {
            return false;
        }
        if self.in_order {
            // Each namespace's new rows already lie together: no need to move them.
            self.appended = 0;
            return false;
        }
        true
    }

    /// Notes that the index laid every row out.
    pub(super) fn laid_out(&mut self) {
        self.appended = 0;
    }

    /// Rows appended since the last layout.
    #[cfg(test)]
    pub(super) fn pending(&self) -> usize {
        self.appended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_out_of_order_ask_for_a_layout_past_a_quarter_of_the_others() {
        let mut layout = Layout::default();
        // 40 rows laid out, then appended rows alternating between two namespaces.
        let due: Vec<bool> = (0..12).map(|i| layout.appended(["b", "a"][i % 2], 41 + i)).collect();
        // 10 = max(40 / 4, 4) appended rows are tolerated, the 11th asks.
        assert_eq!(due.iter().position(|&due| due), Some(10));
        layout.laid_out();
        assert_eq!(layout.pending(), 0);
    }

    #[test]
    fn rows_in_namespace_order_are_taken_as_laid_out() {
        let mut layout = Layout::default();
        let names = ["a", "a", "b", "c", "c", "d", "e", "f"];
        assert!(names.iter().enumerate().all(|(i, name)| !layout.appended(name, i + 1)));
        assert!(layout.pending() < names.len(), "absorbed once past the threshold");
    }
}
