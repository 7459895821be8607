//! Chart data that a frame or table study hands the report beside its
//! frame: curves (alignment over iterations, dead fraction over epochs, an
//! L0/FVU trade-off) and image tiles (dictionary atoms).
//!
//! A frame-only study trains models the results frame cannot hold (their
//! histories and weights), so what its charts need travels here, computed
//! by the study from the runs it made. The report draws it without knowing
//! which study made it ([`crate::report::figures`]): data flows one way,
//! and a new study's chart is data, not report code. Captions are written
//! by the study from the numbers it measured, never in advance.

/// A line chart's data: one series per name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curves {
    /// Section id: lowercase ASCII letters, digits and `-` (see
    /// [`crate::report::Section::id`]).
    pub id: String,
    /// Section heading.
    pub title: String,
    /// What to look at, quoting the numbers behind it.
    pub caption: String,
    /// Horizontal axis.
    pub x_label: String,
    /// Vertical axis.
    pub y_label: String,
    /// Logarithmic horizontal axis.
    pub log_x: bool,
    /// Logarithmic vertical axis.
    pub log_y: bool,
    /// The lines, drawn in order.
    pub series: Vec<Line>,
}

/// One series of a [`Curves`] chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Palette index: lines with the same index share a colour (e.g. one
    /// method drawn at several sizes, the sizes told apart by `dashed`).
    pub color: usize,
    /// Drawn dashed.
    pub dashed: bool,
    /// A marker at every point (for sparse points, such as one per latent
    /// size); otherwise a line only.
    pub markers: bool,
}

/// Rows of image tiles, e.g. the decoder atoms of each variant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tiles {
    /// Section id (as for [`Curves::id`]).
    pub id: String,
    /// Section heading.
    pub title: String,
    /// What to look at.
    pub caption: String,
    /// `(height, width)` of every tile.
    pub shape: (usize, usize),
    /// `(label, tiles)`, each tile `height * width` row-major values,
    /// drawn on a zero-centred diverging scale.
    pub rows: Vec<(String, Vec<Vec<f64>>)>,
}

/// Everything a study hands the report beside its frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Line charts, in page order.
    pub curves: Vec<Curves>,
    /// Image grids, after the line charts.
    pub tiles: Vec<Tiles>,
}

impl Figures {
    /// Whether there is nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.curves.is_empty() && self.tiles.is_empty()
    }

    /// Appends `other`'s charts after this one's.
    pub fn extend(&mut self, other: Figures) {
        self.curves.extend(other.curves);
        self.tiles.extend(other.tiles);
    }
}
