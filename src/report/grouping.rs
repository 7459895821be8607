//! How the report names the study's configurations: display names of
//! model kinds and legend labels. Which models are linear or tied their
//! [`ModelName`] says.
//!
//! The configurations themselves, and the means and intervals over seeds
//! drawn for them, come from [`crate::study::aggregate`]; this module only
//! words them.

use crate::study::ModelName;
use crate::study::aggregate::ConfigKey;

/// Display name of a model from the results' `model` column.
pub fn model_name(model: &ModelName) -> String {
    if model.is_pca() {
        "PCA".to_string()
    } else {
        model.as_str().replace('_', " ")
    }
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
            if !key.model.is_linear() {
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

    /// A variant is not linear, so its label names its activation.
    #[test]
    fn variant_labels_name_their_activation() {
        let keys = [
            key("pca", "identity", 0.0),
            key("sae_tied_topk", "topk_4", 0.0),
        ];
        assert_eq!(labels(&keys), ["PCA", "sae tied topk (topk_4)"]);
    }
}
