"""Conformance: the profile package, parsing and validation of resources, terminology."""
