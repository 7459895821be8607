//! The datasets shipped inside the crate (see `datasets/README.md`).
//!
//! The gzip IDX files are embedded with `include_bytes!`, so loading them
//! needs neither the source tree nor a network and works from any directory.
//!
//! | name       | n      | d   | image   | values as loaded         |
//! |------------|--------|-----|---------|--------------------------|
//! | `digits`   | 1,797  | 64  | 8 x 8   | stored 0..16, divided by 16  -> [0, 1] |
//! | `mnist10k` | 10,000 | 784 | 28 x 28 | stored 0..255, divided by 255 -> [0, 1] |
//!
//! Scaling to [0, 1] puts both datasets on the scale sigmoid decoders produce
//! and makes reconstruction errors comparable between them. `mnist10k` rows
//! are sorted by label (the source package's order); shuffle or split before
//! taking a prefix.

use super::idx::{IdxArray, dataset_from_arrays};
use super::{Dataset, DatasetParts};
use crate::error::{Error, Result};
use std::path::Path;

/// One embedded file: its name in `datasets/` and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedFile {
    /// File name inside `datasets/`, e.g. `"digits-images-idx3-ubyte.gz"`.
    pub name: &'static str,
    /// The file's bytes as committed.
    pub bytes: &'static [u8],
}

struct Builtin {
    name: &'static str,
    images: EmbeddedFile,
    labels: EmbeddedFile,
    /// The stored maximum pixel value: loaded values are divided by it.
    max_value: f64,
}

macro_rules! embedded {
    ($file:literal) => {
        EmbeddedFile {
            name: $file,
            bytes: include_bytes!(concat!("../../datasets/", $file)),
        }
    };
}

const BUILTINS: [Builtin; 2] = [
    Builtin {
        name: "digits",
        images: embedded!("digits-images-idx3-ubyte.gz"),
        labels: embedded!("digits-labels-idx1-ubyte.gz"),
        max_value: 16.0,
    },
    Builtin {
        name: "mnist10k",
        images: embedded!("mnist10k-images-idx3-ubyte.gz"),
        labels: embedded!("mnist10k-labels-idx1-ubyte.gz"),
        max_value: 255.0,
    },
];

/// Every embedded file, for checking them against `datasets/README.md`.
pub fn embedded_files() -> Vec<EmbeddedFile> {
    BUILTINS.iter().flat_map(|b| [b.images, b.labels]).collect()
}

impl Dataset {
    /// Names accepted by [`Dataset::builtin`].
    pub fn builtin_names() -> &'static [&'static str] {
        &["digits", "mnist10k"]
    }

    /// A built-in dataset, pixel values scaled to [0, 1] and labels 0..9.
    ///
    /// Errors: [`Error::UnknownDataset`] for a name not in
    /// [`Dataset::builtin_names`].
    pub fn builtin(name: &str) -> Result<Dataset> {
        let b = BUILTINS
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| Error::UnknownDataset(name.to_string()))?;
        let images_path = Path::new(b.images.name);
        let labels_path = Path::new(b.labels.name);
        let images = IdxArray::from_bytes(b.images.bytes, images_path)?;
        let labels = IdxArray::from_bytes(b.labels.bytes, labels_path)?;
        let ds = dataset_from_arrays(b.name, images, Some(labels), images_path, Some(labels_path))?;
        let DatasetParts {
            name,
            mut x,
            labels,
            image_shape: shape,
        } = ds.into_parts();
        // Division, not multiplication by a reciprocal: v / 255 is the
        // correctly rounded quotient, so values equal `pixel / 255` exactly.
        x.iter_mut().for_each(|v| *v /= b.max_value);
        Dataset::new(name, x, labels, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_with_documented_shapes() {
        let d = Dataset::builtin("digits").unwrap();
        assert_eq!(
            (d.n_samples(), d.n_features(), d.image_shape()),
            (1797, 64, Some((8, 8)))
        );
        let m = Dataset::builtin("mnist10k").unwrap();
        assert_eq!(
            (m.n_samples(), m.n_features(), m.image_shape()),
            (10000, 784, Some((28, 28)))
        );
        assert!(matches!(
            Dataset::builtin("cifar"),
            Err(Error::UnknownDataset(_))
        ));
    }
}
