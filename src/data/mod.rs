//! Datasets: the built-in ones, loaders (IDX, CSV, Parquet), preprocessing, splits and synthetic data with known structure.
