"""The Python peer: fhirstarter (FastAPI + fhir.resources) with Observation create and read in memory.

Written as its own example does it (`fhirstarter/examples/example.py`): store the model's
JSON on create, validate it back into a model on read. Run with FHIR_SEQUENCE=R4B.
"""

import os
import uuid

os.environ.setdefault("FHIR_SEQUENCE", "R4B")

from fhir.resources.R4B.observation import Observation
from fhirstarter import FHIRProvider, FHIRStarter, InteractionContext
from fhirstarter.exceptions import FHIRResourceNotFoundError

STORE: dict[str, str] = {}

app = FHIRStarter()
provider = FHIRProvider()


@provider.create(Observation)
async def observation_create(context: InteractionContext, resource: Observation) -> str:
    res_id = str(uuid.uuid4())
    resource.id = res_id
    STORE[res_id] = resource.model_dump_json()
    return res_id


@provider.read(Observation)
async def observation_read(context: InteractionContext, id_: str) -> Observation:
    stored = STORE.get(id_)
    if stored is None:
        raise FHIRResourceNotFoundError
    return Observation.model_validate_json(stored)


app.add_providers(provider)
