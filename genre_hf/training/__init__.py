"""A training run: what is learned from the data, fitting each model, distribution strategies, losses and calibration."""
