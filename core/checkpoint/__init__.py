"""Checkpoint storage and validation: the safetensors + JSON manifest format, every check made
before anything is built from a folder, and the run folder's lock and metrics log."""
