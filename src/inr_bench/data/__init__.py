"""Signals as coordinate/value pairs: one DataModule per modality on a shared base."""
