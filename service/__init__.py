"""Dyad: FHIR R4 interoperability for the perinatal parent-infant relationship care pathway."""

__version__ = "0.1.0"
