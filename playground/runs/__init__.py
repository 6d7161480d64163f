"""A run from request to record: the one intake, services and selectors, the one
serialiser, masking, live events and their run log, kept files."""
