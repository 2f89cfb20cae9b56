"""The IVR conversation: flows described in data, run over a small Channel protocol."""
