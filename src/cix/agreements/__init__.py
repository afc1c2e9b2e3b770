"""Bilateral security agreements: loading, validation, equivalence, bundled files. Pure.

`bundled("kor-can")` is the Korea–Canada agreement; `bundled_registry()` holds every bundled
agreement and national policy (`kor-national`, `can-national`, `deu-national`).
"""

from cix.agreements.loading import (
    AgreementFileError,
    agreement_from_toml,
    bundled,
    bundled_ids,
    bundled_registry,
    load_agreement,
    loads_agreement,
    registry_of,
)
from cix.agreements.model import Agreement, LevelRef
from cix.agreements.registry import Registry

__all__ = [
    "Agreement",
    "AgreementFileError",
    "LevelRef",
    "Registry",
    "agreement_from_toml",
    "bundled",
    "bundled_ids",
    "bundled_registry",
    "load_agreement",
    "loads_agreement",
    "registry_of",
]
