"""Measuring this machine: hardware (psutil, NVML, torch), micro-benchmarks, counted work,
calibration training and data-parallel steps. The only layer that runs torch."""
