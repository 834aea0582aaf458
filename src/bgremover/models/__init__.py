"""Offline models: a registry of what the product can run, the one fetch code path that obtains them
from the package registries, and the per-process ONNX Runtime session cache."""
