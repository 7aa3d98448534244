"""Validation of resources against Dyad's profiles: structure, then each profile's rules."""

from service.conformance.validation.validator import Assessment, CompiledProfile, Validator

__all__ = ["Assessment", "CompiledProfile", "Validator"]
