"""Workflows shared by the command line and Python: profile, estimate, recommend, validate."""
