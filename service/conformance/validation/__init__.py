"""Validation of resources against Dyad's profiles: structure, then each profile's rules."""

from service.conformance.validation.validator import CompiledProfile, Validator

__all__ = ["CompiledProfile", "Validator"]
