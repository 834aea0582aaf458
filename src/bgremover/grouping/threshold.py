"""Default distance threshold (placeholder until calibrated)."""

DEFAULT_THRESHOLD = 0.35
