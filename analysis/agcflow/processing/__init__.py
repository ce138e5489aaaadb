"""Processing: the coffea processor, the processing pass and the cached pass over delivered columns."""
