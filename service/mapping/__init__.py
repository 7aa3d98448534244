"""Source records (maternity, health visiting, perinatal mental health) <-> Dyad FHIR Bundles.

The mappings themselves are data in `mappings/<system>/`; this package loads and runs them.
"""

from service.mapping.catalog import MappingCatalog
from service.mapping.results import MappingIssue, MappingResult, Unmappable
from service.mapping.system import MappingSystem

__all__ = ["MappingCatalog", "MappingIssue", "MappingResult", "MappingSystem", "Unmappable"]
