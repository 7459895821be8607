//! Autoencoder models: activations, tied and untied layers, stacks, losses and exact backprop.
