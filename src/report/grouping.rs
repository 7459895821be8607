//! How the report names the study's configurations: display names of
//! model kinds, which kinds are linear or tied, and legend labels.
//!
//! The configurations themselves, and the means and intervals over seeds
//! drawn for them, come from [`crate::study::aggregate`]; this module only
//! words them.

use crate::study::ModelKind;
use crate::study::aggregate::ConfigKey;

/// Display name of a model kind from the results' `model` column.
pub fn model_name(model: &str) -> String {
    if model == ModelKind::Pca.name() {
        "PCA".to_string()
    } else {
        model.replace('_', " ")
    }
}

/// Whether a model kind has no hidden nonlinearity (its activation column
/// says nothing worth showing).
pub fn is_linear(model: &str) -> bool {
    model == ModelKind::Pca.name() || model.starts_with("linear")
}

/// Whether a model kind shares one weight between encoder and decoder.
pub fn is_tied(model: &str) -> bool {
    model.ends_with("tied") && !model.ends_with("untied")
}

/// Legend labels for configurations: the model name, plus whichever other
/// settings vary among the configurations of that model (so a study of
/// one activation does not repeat it on every curve).
pub fn labels(keys: &[ConfigKey]) -> Vec<String> {
    keys.iter()
        .map(|key| {
            let siblings: Vec<&ConfigKey> = keys.iter().filter(|k| k.model == key.model).collect();
            let varies = |f: &dyn Fn(&ConfigKey) -> String| siblings.iter().any(|k| f(k) != f(key));
            let mut label = model_name(&key.model);
            let mut extra = Vec::new();
            if !is_linear(&key.model) {
                extra.push(key.activation.clone());
            }
            if varies(&|k| k.bias_mode.clone()) {
                extra.push(format!("bias {}", key.bias_mode));
            }
            if varies(&|k| format!("{:e}", k.l2)) {
                extra.push(format!("L2 {}", crate::report::number::format_tick(key.l2)));
            }
            if varies(&|k| format!("{:e}", k.sparsity_weight)) {
                extra.push(format!(
                    "sparsity {}",
                    crate::report::number::format_tick(key.sparsity_weight)
                ));
            }
            if !extra.is_empty() {
                label.push_str(&format!(" ({})", extra.join(", ")));
            }
            label
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(model: &str, activation: &str, l2: f64) -> ConfigKey {
        ConfigKey {
            model: model.into(),
            activation: activation.into(),
            bias_mode: "separate".into(),
            l2,
            sparsity_weight: 0.0,
        }
    }

    #[test]
    fn labels_name_what_varies() {
        let keys = [
            key("pca", "identity", 0.0),
            key("tied", "sigmoid", 0.0),
            key("untied", "sigmoid", 0.0),
            key("untied", "relu", 0.0),
        ];
        assert_eq!(
            labels(&keys),
            ["PCA", "tied (sigmoid)", "untied (sigmoid)", "untied (relu)"]
        );
        let l2 = [key("tied", "sigmoid", 0.0), key("tied", "sigmoid", 0.01)];
        assert_eq!(
            labels(&l2),
            [
                format!("tied (sigmoid, L2 {})", crate::number::format_tick(0.0)),
                format!("tied (sigmoid, L2 {})", crate::number::format_tick(0.01)),
            ]
        );
    }

    #[test]
    fn tied_and_linear_kinds() {
        assert!(is_tied("tied") && is_tied("linear_tied") && is_tied("conv_tied"));
        assert!(!is_tied("untied") && !is_tied("linear_untied") && !is_tied("pca"));
        assert!(is_linear("linear_untied") && !is_linear("sparse_tied"));
    }
}
