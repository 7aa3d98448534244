"""Terminology over the code systems, value sets and concept maps in `profiles/`."""

from service.conformance.terminology.operations import CodeCheck, Terminology
from service.conformance.terminology.valuesets import ExpansionError

__all__ = ["CodeCheck", "ExpansionError", "Terminology"]
