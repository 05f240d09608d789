"""Liveness: evidence that the identified face belongs to a person in front of the camera."""
