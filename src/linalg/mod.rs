//! Linear-algebra baselines: PCA (exact and randomized) and principal angles between subspaces.
