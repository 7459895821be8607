//! Training: optimizers, schedules, the rayon batch engine, L-BFGS, history and checkpoints.
