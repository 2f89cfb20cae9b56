"""Routing: pure decisions (which queue, which priority, why) over rules data."""
