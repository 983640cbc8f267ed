"""The package version, importable without importing the package's front."""

__version__ = "0.1.0"
