//! The `model` column of a results row as a type, [`ModelName`], and the
//! rule by which a variant's name says whether it is tied
//! ([`tied_in_name`]).

use super::spec::ModelKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A results row's `model`: a [`ModelKind`]'s name or a named
/// [`super::Variant`]'s, which says whether the model is PCA, linear, tied
/// or untied. Built from the column's string with `From`, it serialises
/// and displays as that same string.
///
/// A results file stores only the name, so everything it says follows
/// from the name alone:
///
/// - a [`ModelKind`]'s name ([`ModelKind::name`]) is that kind, and the
///   kind says the rest ([`ModelKind::is_tied`], [`ModelKind::is_linear`]);
/// - any other name is a variant's. Whether a variant is tied is read from
///   its name by one rule: the first of its `_`-separated words that is
///   `tied` or `untied` says so (`sae_untied_tied_init_topk` is untied),
///   and a name with neither word leaves it unknown.
///   [`super::Variant::validate`] refuses a name whose word contradicts
///   the variant's `tied` flag, so the rule never misreads a study's own
///   variant. A variant is never linear: it has an activation of its own
///   (TopK, or a fixed or the study's one), which its rows' `activation`
///   column names.
///
/// Equality, order and hashing are those of the name, so sorting rows by
/// model or keying a map by it gives the order the strings did.
#[derive(Clone)]
pub struct ModelName(Repr);

/// A kind's name is never held as a variant's: `From` parses it.
#[derive(Clone)]
enum Repr {
    Kind(ModelKind),
    Variant { name: String, tied: Option<bool> },
}

/// Whether a variant named `name` is tied, by the rule [`ModelName`]
/// states: the first of its `_`-separated words that is `tied`
/// (`Some(true)`) or `untied` (`Some(false)`); `None` when it has neither.
pub(crate) fn tied_in_name(name: &str) -> Option<bool> {
    name.split('_').find_map(|word| match word {
        "tied" => Some(true),
        "untied" => Some(false),
        _ => None,
    })
}

impl ModelName {
    /// The name as the `model` column holds it.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Kind(k) => k.name(),
            Repr::Variant { name, .. } => name,
        }
    }

    /// The model kind, or `None` for a variant.
    pub fn kind(&self) -> Option<ModelKind> {
        match self.0 {
            Repr::Kind(k) => Some(k),
            Repr::Variant { .. } => None,
        }
    }

    /// Whether the row is PCA's.
    pub fn is_pca(&self) -> bool {
        self.kind() == Some(ModelKind::Pca)
    }

    /// Whether the model has no hidden nonlinearity: PCA and the linear
    /// kinds ([`ModelKind::is_linear`]); never a variant.
    pub fn is_linear(&self) -> bool {
        self.kind().is_some_and(ModelKind::is_linear)
    }

    /// Whether the first layer shares one weight between encoder and
    /// decoder: a kind's [`ModelKind::is_tied`] (false for PCA), a
    /// variant's by the first `tied` or `untied` word of its name; `None`
    /// for a variant whose name has neither.
    pub fn tied(&self) -> Option<bool> {
        match &self.0 {
            Repr::Kind(k) => Some(k.is_tied()),
            Repr::Variant { tied, .. } => *tied,
        }
    }

    /// Whether the model is known to be tied ([`ModelName::tied`]).
    pub fn is_tied(&self) -> bool {
        self.tied() == Some(true)
    }
}

impl From<ModelKind> for ModelName {
    fn from(kind: ModelKind) -> ModelName {
        ModelName(Repr::Kind(kind))
    }
}

impl From<&str> for ModelName {
    /// A kind's name is that kind; any other name is a variant's.
    fn from(name: &str) -> ModelName {
        match ModelKind::ALL.into_iter().find(|k| k.name() == name) {
            Some(k) => ModelName(Repr::Kind(k)),
            None => ModelName(Repr::Variant {
                tied: tied_in_name(name),
                name: name.to_string(),
            }),
        }
    }
}

impl From<String> for ModelName {
    /// As `From<&str>`.
    fn from(name: String) -> ModelName {
        ModelName::from(name.as_str())
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Debug for ModelName {
    /// As the name's string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for ModelName {
    fn eq(&self, other: &ModelName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ModelName {}

impl Hash for ModelName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for ModelName {
    fn partial_cmp(&self, other: &ModelName) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ModelName {
    fn cmp(&self, other: &ModelName) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialEq<ModelKind> for ModelName {
    fn eq(&self, kind: &ModelKind) -> bool {
        self.kind() == Some(*kind)
    }
}

impl PartialEq<str> for ModelName {
    fn eq(&self, name: &str) -> bool {
        self.as_str() == name
    }
}

impl PartialEq<&str> for ModelName {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

impl PartialEq<String> for ModelName {
    fn eq(&self, name: &String) -> bool {
        self.as_str() == name.as_str()
    }
}

impl PartialEq<ModelName> for str {
    fn eq(&self, model: &ModelName) -> bool {
        self == model.as_str()
    }
}

impl PartialEq<ModelName> for &str {
    fn eq(&self, model: &ModelName) -> bool {
        *self == model.as_str()
    }
}

impl PartialEq<ModelName> for String {
    fn eq(&self, model: &ModelName) -> bool {
        self.as_str() == model.as_str()
    }
}

impl Serialize for ModelName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ModelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ModelName, D::Error> {
        String::deserialize(deserializer).map(ModelName::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;

    /// Every kind's name parses back to the kind, serialises to the same
    /// string and is classified as the kind itself says.
    #[test]
    fn kind_names_round_trip_and_classify_as_their_kind() {
        for kind in ModelKind::ALL {
            let m = ModelName::from(kind.name());
            assert_eq!(m.kind(), Some(kind));
            assert_eq!(m, ModelName::from(kind));
            assert_eq!(m.as_str(), kind.name());
            assert_eq!(m.to_string(), kind.name());
            assert!(m == kind && m == kind.name());
            assert_eq!(m.is_linear(), kind.is_linear(), "{kind:?}");
            assert_eq!(m.tied(), Some(kind.is_tied()), "{kind:?}");
            assert_eq!(m.is_tied(), kind.is_tied(), "{kind:?}");
            assert_eq!(m.is_pca(), kind == ModelKind::Pca, "{kind:?}");
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, serde_json::to_string(kind.name()).unwrap());
            assert_eq!(serde_json::from_str::<ModelName>(&json).unwrap(), m);
        }
    }

    /// Every variant of the `sae` study keeps its name and is classified
    /// by its own `tied` flag; none is linear (each has a TopK, ReLU or
    /// JumpReLU activation) or a kind.
    #[test]
    fn sae_variant_names_round_trip_and_classify_by_their_flag() {
        let variants = crate::study::builtin::sae::variants();
        assert!(variants.iter().any(|v| v.tied) && variants.iter().any(|v| !v.tied));
        for v in variants {
            let m = ModelName::from(v.name.as_str());
            assert_eq!(m.as_str(), v.name);
            assert_eq!(m, ModelName::from(v.name.clone()));
            assert_eq!(m.kind(), None, "{}", v.name);
            assert_eq!(m.tied(), Some(v.tied), "{}", v.name);
            assert_eq!(m.is_tied(), v.tied, "{}", v.name);
            assert_ne!(
                v.activation_at(64, Activation::Identity),
                Activation::Identity
            );
            assert!(!m.is_linear() && !m.is_pca(), "{}", v.name);
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, serde_json::to_string(&v.name).unwrap());
            assert_eq!(serde_json::from_str::<ModelName>(&json).unwrap(), m);
        }
    }

    /// Names that are no kind's are variants: never linear, tied by the
    /// first `tied`/`untied` word, unknown without one.
    #[test]
    fn other_names_are_variants_tied_by_their_words() {
        let cases = [
            ("tied_topk", Some(true)),
            ("sae_untied_tied_init_topk", Some(false)),
            ("topk_untied", Some(false)),
            ("retied", None),
            ("topk", None),
        ];
        for (name, tied) in cases {
            let m = ModelName::from(name);
            assert_eq!((m.kind(), m.as_str()), (None, name));
            assert_eq!(m.tied(), tied, "{name}");
            assert!(!m.is_linear() && !m.is_pca(), "{name}");
            assert!(m != ModelKind::Tied && m != ModelKind::Untied);
        }
        assert!(!ModelName::from("topk").is_tied());
    }

    /// Order and formatting are the string's.
    #[test]
    fn order_and_format_follow_the_string() {
        let mut names: Vec<ModelName> = ["untied", "pca", "sae_tied_l1", "linear_tied"]
            .map(ModelName::from)
            .to_vec();
        names.sort();
        assert_eq!(names, ["linear_tied", "pca", "sae_tied_l1", "untied"]);
        let m = ModelName::from("pca");
        assert_eq!(format!("[{m:>5}]"), "[  pca]");
        assert_eq!(format!("{m:?}"), "\"pca\"");
    }
}
