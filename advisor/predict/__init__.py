"""Predictions: pure functions over the records, no torch and no I/O. This machine from its
calibrations (local), other GPUs from counted work and datasheets (gpu, targets), several
GPUs (parallel), memory and one-time set-up."""
