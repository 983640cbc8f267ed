"""Records: what a workload is, what was measured, what was predicted. Frozen dataclasses and
their JSON; no torch, no I/O."""
