"""Write the known-answer vectors under tests/vectors/envelope/ (run only to add vectors).

`python -m tests.envelope.make_vectors` — keys, payload key, IVs and policy uuid are fixed
(derived from names below); the HPKE encapsulations are random, so each run writes new
`wrapped_keys` and new sealed bytes. The test (test_vectors.py) reproduces the stored bytes
exactly by injecting the stored wrapped keys, and checks that they unwrap.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from cix import envelope
from cix.envelope._manifest import GCM_IV
from cix.keys import (
    KemAlgorithm,
    KemPublicKey,
    SignatureAlgorithm,
    kem_private_from_raw,
    signing_from_raw,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "envelope"

LABEL_JSON: dict[str, Any] = {
    "caveats": [],
    "classification": "II",
    "created": "2026-02-01T00:00:00Z",
    "originator": "KOR",
    "policy": "kor-can",
    "programmes": ["CPSP"],
    "purpose": None,
    "releasable_to": ["CAN", "KOR"],
}
LABEL_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<originatorConfidentialityLabel xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0">'
    "<ConfidentialityInformation><PolicyIdentifier>kor-can</PolicyIdentifier>"
    "<Classification>군사Ⅱ급비밀</Classification></ConfidentialityInformation>"
    "<OriginatorID>KOR</OriginatorID></originatorConfidentialityLabel>"
)

CASES: list[dict[str, Any]] = [
    {
        "name": "x25519-three-segments",
        "description": "40 bytes in 16-byte segments (3, the last short), one X25519 recipient",
        "recipients": ["x25519"],
        "plaintext_len": 40,
        "segment_size": 16,
    },
    {
        "name": "mlkem768-x25519-empty",
        "description": "an empty payload (one 28-byte segment), one ML-KEM-768+X25519 recipient",
        "recipients": ["mlkem768-x25519"],
        "plaintext_len": 0,
        "segment_size": 1048576,
    },
    {
        "name": "two-recipients-one-segment",
        "description": "100 bytes in one segment for an X25519 and an ML-KEM-768+X25519 recipient",
        "recipients": ["x25519", "mlkem768-x25519"],
        "plaintext_len": 100,
        "segment_size": 2097152,
    },
]


def fixed(label: str, n: int) -> bytes:
    """Deterministic bytes for a vector: SHA-256 in counter mode over a label."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"cix vector {label} {counter}".encode()).digest()
        counter += 1
    return out[:n]


def raw_kem(name: str, algorithm: str) -> bytes:
    """The raw private key of a vector's recipient."""
    return fixed(f"{name} kem {algorithm}", 32 if algorithm == "x25519" else 96)


def main() -> None:
    """Write every vector's JSON description and its sealed bytes."""
    VECTORS.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        name = case["name"]
        signer = signing_from_raw(SignatureAlgorithm.ED25519, fixed(f"{name} signer", 32))
        recipients = [
            kem_private_from_raw(KemAlgorithm(a), raw_kem(name, a)) for a in case["recipients"]
        ]
        plaintext = fixed(f"{name} plaintext", case["plaintext_len"])
        key = fixed(f"{name} payload key", 32)
        n_segments = max(1, -(-len(plaintext) // case["segment_size"]))
        ivs = [fixed(f"{name} iv {i}", GCM_IV) for i in range(n_segments)]
        policy_uuid = "00000000-0000-4000-8000-" + fixed(f"{name} uuid", 6).hex()
        wrapped: list[str] = []

        def wrap(
            recipient: KemPublicKey, payload_key: bytes, info: bytes, log: list[str] = wrapped
        ) -> bytes:
            out = recipient.wrap(payload_key, info)
            log.append(base64.b64encode(out).decode())
            return out

        sink = io.BytesIO()
        envelope.seal(
            io.BytesIO(plaintext),
            sink,
            label_xml=LABEL_XML.encode(),
            label_json=LABEL_JSON,
            recipients=[r.public for r in recipients],
            signer=signer,
            segment_size=case["segment_size"],
            _key=key,
            _ivs=iter(ivs),
            _policy_uuid=policy_uuid,
            _wrap=wrap,
        )
        sealed = sink.getvalue()
        (VECTORS / f"{name}.tdf").write_bytes(sealed)
        doc = {
            "description": case["description"],
            "recipients": [
                {"algorithm": a, "private_raw": raw_kem(name, a).hex(), "kid": r.kid}
                for a, r in zip(case["recipients"], recipients, strict=True)
            ],
            "signer": {
                "algorithm": "ed25519",
                "private_raw": fixed(f"{name} signer", 32).hex(),
                "kid": signer.kid,
            },
            "plaintext": plaintext.hex(),
            "segment_size": case["segment_size"],
            "payload_key": key.hex(),
            "ivs": [iv.hex() for iv in ivs],
            "policy_uuid": policy_uuid,
            "label_json": LABEL_JSON,
            "label_xml": LABEL_XML,
            "wrapped_keys": wrapped,
            "sealed_file": f"{name}.tdf",
            "sealed_sha256": hashlib.sha256(sealed).hexdigest(),
        }
        (VECTORS / f"{name}.json").write_text(
            json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
