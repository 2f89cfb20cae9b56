"""Calls: the call record (IVR result, routing reason, timeline) and the caller's history."""
