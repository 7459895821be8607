//! Studies: sweeps over models, latent sizes and seeds, collected into polars DataFrames.
