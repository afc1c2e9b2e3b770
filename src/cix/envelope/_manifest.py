"""The manifest: building it, parsing it strictly, and the canonical forms that are hashed.

Canonical JSON (what every hash and signature here covers): UTF-8, object keys sorted,
no whitespace, no floats, no NaN (`json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)` over objects whose keys are ASCII; equal to RFC 8785 JCS for them).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from cix.envelope.errors import ManifestError, UnknownAlgorithm

TDF_SPEC_VERSION = "4.3.0"
KEY_ACCESS_SCHEMA_VERSION = "1.0"
LABEL_ASSERTION_ID = "cix-label"
#: An alternative label's assertion id is this prefix and the adding party ("…-CAN").
ALTERNATIVE_LABEL_PREFIX = "cix-alternative-label-"
#: A party: an ISO 3166-1 alpha-3 code, as `cix.labels` writes parties.
PARTY = re.compile(r"[A-Z]{3}")
LABEL_SCHEMA = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
GCM_IV = 12
GCM_TAG = 16
SEGMENT_OVERHEAD = GCM_IV + GCM_TAG
MAX_SEGMENT = 64 << 20
MAX_MANIFEST = 64 << 20
_KAO_INFO_PREFIX = b"cix-tdf-v1 key access\x00"
_MANIFEST_HASH_PREFIX = b"cix-tdf-v1 manifest\x00"


def b64(data: bytes) -> str:
    """Standard base64 with padding, as text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, where: str) -> bytes:
    """Decode standard base64 strictly; `ManifestError` naming `where` otherwise."""
    if not isinstance(text, str):
        raise ManifestError(f"0.manifest.json: {where} must be a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ManifestError(f"0.manifest.json: {where} is not valid base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        # Unused low bits make several texts decode alike; only the canonical one is taken.
        raise ManifestError(f"0.manifest.json: {where} is not canonical base64")
    return data


def check_canonical(obj: object, path: str = "") -> None:
    """Raise `ManifestError` if `obj` holds a float anywhere (canonical JSON has none)."""
    _check_canonical(obj, path)


def _check_canonical(obj: object, path: str) -> None:
    if isinstance(obj, float):
        raise ManifestError(f"0.manifest.json: {path or 'value'} is not an integer (no floats)")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_canonical(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _check_canonical(v, f"{path}/{i}")


def canonical(obj: object) -> bytes:
    """The canonical JSON bytes of `obj` (see the module docstring).

    `obj` must hold no float: parsed manifests cannot (`strict_json` refuses them) and
    caller-given JSON is checked once with `check_canonical`.
    """
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ManifestError(f"0.manifest.json: duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> object:
    raise ManifestError(f"0.manifest.json: {name} is not allowed")


def _reject_float(text: str) -> object:
    raise ManifestError(f"0.manifest.json: the number {text} is not an integer (no floats)")


def strict_json(data: bytes, where: str) -> Any:
    """Parse JSON rejecting duplicate keys, floats and NaN/Infinity (`ManifestError`)."""
    try:
        return json.loads(
            data,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_reject_float,
        )
    except ManifestError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc})") from None


@functools.cache
def _reader_schema() -> dict[str, Any]:
    text = resources.files("cix.envelope").joinpath("opentdf-manifest.schema.json").read_bytes()
    schema: dict[str, Any] = json.loads(text)
    # OpenTDF's own writers (Go, otdf-python) omit payload.tdf_spec_version, and otdf-python
    # refuses it, so readers accept its absence; cix writers add it when they can (format.md).
    required = schema["properties"]["payload"]["required"]
    schema["properties"]["payload"]["required"] = [r for r in required if r != "tdf_spec_version"]
    return schema


@functools.cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(_reader_schema())


@functools.cache
def _fast_validator() -> Callable[[object], object]:
    import fastjsonschema

    # The schema uses no keyword whose meaning differs between draft 2020-12 and draft-07
    # (no $ref, $defs, prefixItems, unevaluated*), so fastjsonschema's compiled draft-07
    # checker gives the same verdict about 90x faster; formats are not asserted, as
    # jsonschema does not assert them by default. tests/envelope/test_schema_fast_path.py
    # holds the two to the same verdict.
    schema = dict(_reader_schema(), **{"$schema": "http://json-schema.org/draft-07/schema#"})
    check: Callable[[object], object] = fastjsonschema.compile(schema, use_formats=False)
    return check


def schema_errors(doc: object) -> list[str]:
    """Every way `doc` violates the (reader-relaxed) OpenTDF manifest schema."""
    import fastjsonschema

    try:
        _fast_validator()(doc)
    except fastjsonschema.JsonSchemaException:
        pass  # list every error with the full validator, which names each one
    else:
        return []
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
        for e in _validator().iter_errors(doc)
    ]


# --- parsed form -----------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One payload segment as the manifest lists it."""

    tag: bytes
    size: int
    encrypted_size: int


@dataclass(frozen=True)
class KeyAccess:
    """One key access object: its JSON, kid, wrapped key and policy binding text."""

    doc: Mapping[str, Any]
    kid: str | None
    wrapped: bytes
    binding: str
    info: bytes  # kao_info(doc): the HPKE info the wrapped key is bound to


@dataclass(frozen=True)
class Manifest:
    """A manifest that parsed and passed the schema and every form check."""

    doc: dict[str, Any]
    policy_b64: str
    policy: Mapping[str, Any]
    key_access: tuple[KeyAccess, ...]
    segments: tuple[Segment, ...]
    segment_size_default: int
    root_signature: bytes
    label_assertion: Mapping[str, Any] | None
    alternative_assertions: tuple[Mapping[str, Any], ...] = ()
    """The alternative-label assertions (ids `ALTERNATIVE_LABEL_PREFIX` + party), unverified."""

    @property
    def plaintext_size(self) -> int:
        """The payload's size before encryption."""
        return sum(s.size for s in self.segments)

    @property
    def encrypted_size(self) -> int:
        """The size `0.payload` must have."""
        return sum(s.encrypted_size for s in self.segments)

    @property
    def label_json(self) -> Mapping[str, Any] | None:
        """The cix label JSON carried in the policy body, if any."""
        body = self.policy.get("body")
        cix = body.get("cix") if isinstance(body, dict) else None
        label = cix.get("label") if isinstance(cix, dict) else None
        return label if isinstance(label, dict) else None

    @functools.cached_property
    def label_canonical(self) -> bytes | None:
        """The canonical bytes of `label_json` (None without one): computed once per parsed
        manifest, which a `ManifestCache` keeps for every open of its object."""
        found = self.label_json
        return None if found is None else canonical(dict(found))


def _int(value: object, where: str) -> int:
    if type(value) is not int or value < 0:
        raise ManifestError(f"0.manifest.json: {where} must be a non-negative integer")
    return value


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestError(f"0.manifest.json: {where} must be an object")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ManifestError(f"0.manifest.json: {where} must be a string")
    return value


def _key_access(i: int, kao: object) -> KeyAccess:
    where = f"encryptionInformation/keyAccess/{i}"
    doc = _obj(kao, where)
    if doc.get("type") != "wrapped" or doc.get("protocol") != "kas":
        raise UnknownAlgorithm(
            f"0.manifest.json: {where}: only type 'wrapped', protocol 'kas' key access is "
            f"supported, not {doc.get('type')!r}/{doc.get('protocol')!r}"
        )
    binding = doc.get("policyBinding")
    if isinstance(binding, dict):
        if binding.get("alg") != "HS256":
            raise UnknownAlgorithm(
                f"0.manifest.json: {where}/policyBinding/alg {binding.get('alg')!r} is not HS256"
            )
        binding = binding.get("hash")
    kid = doc.get("kid")
    if kid is not None:
        kid = _str(kid, f"{where}/kid")
    return KeyAccess(
        doc,
        kid,
        unb64(doc.get("wrappedKey"), f"{where}/wrappedKey"),
        _str(binding, f"{where}/policyBinding/hash"),
        kao_info(doc),
    )


def alternative_json(assertion: Mapping[str, Any]) -> Mapping[str, Any]:
    """The alternative label JSON of an alternative-label assertion that parsed."""
    label: Mapping[str, Any] = assertion["statement"]["cix"]["label"]
    return label


def _alternative_form(assertion: dict[str, Any]) -> dict[str, Any]:
    """`assertion` if it has an alternative-label assertion's form (docs/format.md §7a): its
    statement's XML text and `cix` object, whose label names the party its id names."""
    where = f"0.manifest.json: assertion {assertion['id']!r}"
    statement = assertion["statement"]
    cix = statement.get("cix")
    label = cix.get("label") if isinstance(cix, dict) and cix.get("version") == 1 else None
    if not isinstance(label, dict) or not isinstance(statement.get("value"), str):
        raise ManifestError(f"{where}: the statement needs XML text and cix version 1 JSON")
    party = label.get("party")
    if not isinstance(label.get("label"), dict) or not isinstance(party, str):
        raise ManifestError(f"{where}: the label needs the originator's label and a party")
    if not PARTY.fullmatch(party) or assertion["id"] != ALTERNATIVE_LABEL_PREFIX + party:
        raise ManifestError(f"{where}: the id must name the label's party {party!r}")
    return assertion


def parse_manifest(data: bytes) -> Manifest:
    """Parse and check a manifest; `ManifestError`/`UnknownAlgorithm` name what was wrong."""
    if len(data) > MAX_MANIFEST:
        raise ManifestError(f"0.manifest.json is larger than {MAX_MANIFEST} bytes")
    doc = strict_json(data, "0.manifest.json")
    if errors := schema_errors(doc):
        raise ManifestError(
            "0.manifest.json does not match the OpenTDF manifest schema: " + "; ".join(errors[:5])
        )
    assert isinstance(doc, dict)
    spec = doc["payload"].get("tdf_spec_version")
    if spec is not None and "schemaVersion" in doc and spec != doc["schemaVersion"]:
        # The signature leaves payload.tdf_spec_version out (a rewrap may drop it for
        # otdf-python), so it must repeat the signed schemaVersion when both are present.
        raise ManifestError("0.manifest.json: payload/tdf_spec_version differs from schemaVersion")
    enc = _obj(doc.get("encryptionInformation"), "encryptionInformation")
    method = _obj(enc.get("method"), "encryptionInformation/method")
    if method.get("algorithm") != "AES-256-GCM":
        raise UnknownAlgorithm(
            f"0.manifest.json: encryptionInformation/method/algorithm "
            f"{method.get('algorithm')!r} is not supported (only AES-256-GCM)"
        )
    integ = _obj(enc.get("integrityInformation"), "encryptionInformation/integrityInformation")
    if integ.get("segmentHashAlg", "GMAC") != "GMAC":
        raise UnknownAlgorithm(
            f"0.manifest.json: segmentHashAlg {integ.get('segmentHashAlg')!r} is not supported "
            "(only GMAC)"
        )
    root = _obj(integ.get("rootSignature"), "integrityInformation/rootSignature")
    if root.get("alg") != "HS256":
        raise UnknownAlgorithm(
            f"0.manifest.json: rootSignature/alg {root.get('alg')!r} is not supported (only HS256)"
        )
    default = _int(integ.get("segmentSizeDefault"), "segmentSizeDefault")
    enc_default = _int(integ.get("encryptedSegmentSizeDefault"), "encryptedSegmentSizeDefault")
    segments = []
    for i, s in enumerate(integ.get("segments") or []):
        where = f"integrityInformation/segments/{i}"
        seg = _obj(s, where)
        size = _int(seg.get("segmentSize", default), f"{where}/segmentSize")
        esize = _int(seg.get("encryptedSegmentSize", enc_default), f"{where}/encryptedSegmentSize")
        tag = unb64(seg.get("hash"), f"{where}/hash")
        if len(tag) != GCM_TAG:
            raise ManifestError(f"0.manifest.json: {where}/hash is not a 16-byte GMAC tag")
        if esize != size + SEGMENT_OVERHEAD or size > MAX_SEGMENT:
            raise ManifestError(
                f"0.manifest.json: {where}: encryptedSegmentSize must be segmentSize + 28 and "
                f"segmentSize at most {MAX_SEGMENT}"
            )
        segments.append(Segment(tag, size, esize))
    policy_b64 = _str(enc.get("policy"), "encryptionInformation/policy")
    policy = strict_json(unb64(policy_b64, "encryptionInformation/policy"), "the policy")
    if not isinstance(policy, dict):
        raise ManifestError("0.manifest.json: the policy is not a JSON object")
    kaos = tuple(_key_access(i, k) for i, k in enumerate(enc.get("keyAccess") or []))
    splits = {k.doc.get("sid") for k in kaos} - {None, ""}
    if len(splits) > 1:
        # OpenTDF XORs one key per distinct sid; cix objects hold alternatives only.
        raise UnknownAlgorithm(
            "0.manifest.json: the key is split across key access servers (several distinct "
            "'sid' values); OpenTDF key splits are not supported"
        )
    labels = []
    alternatives: dict[str, Mapping[str, Any]] = {}
    for a in doc.get("assertions") or []:  # the schema made each an object with a text id
        if a["id"] == LABEL_ASSERTION_ID:
            labels.append(a)
        elif is_alternative(a):
            if a["id"] in alternatives:
                raise ManifestError(f"0.manifest.json: more than one {a['id']!r} assertion")
            alternatives[a["id"]] = _alternative_form(a)
    if len(labels) > 1:
        raise ManifestError(f"0.manifest.json: more than one {LABEL_ASSERTION_ID!r} assertion")
    return Manifest(
        doc=doc,
        policy_b64=policy_b64,
        policy=policy,
        key_access=kaos,
        segments=tuple(segments),
        segment_size_default=default,
        root_signature=unb64(root.get("sig"), "rootSignature/sig"),
        label_assertion=labels[0] if labels else None,
        alternative_assertions=tuple(alternatives.values()),
    )


# --- the keyed and hashed pieces ---------------------------------------------------------


def kao_info(kao: Mapping[str, Any]) -> bytes:
    """HPKE `info` of a key access object: its fields other than wrappedKey/policyBinding."""
    head = {k: v for k, v in kao.items() if k not in ("wrappedKey", "policyBinding")}
    return _KAO_INFO_PREFIX + canonical(head)


def policy_binding(key: bytes, policy_b64: str) -> str:
    """OpenTDF's policy binding: base64(hex(HMAC-SHA256(key, base64 policy text)))."""
    mac = hmac.new(key, policy_b64.encode("ascii"), hashlib.sha256).hexdigest()
    return b64(mac.encode("ascii"))


def root_signature(key: bytes, tags: Sequence[bytes]) -> bytes:
    """OpenTDF's root signature: HMAC-SHA256(key, tag_0 || tag_1 || …)."""
    return hmac.new(key, b"".join(tags), hashlib.sha256).digest()


def manifest_hash(doc: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the manifest as the originator signs it.

    Leaves out what a rewrap may change (`encryptionInformation.keyAccess`,
    `payload.tdf_spec_version`), every assertion's `binding` (the signature itself) and the
    alternative-label assertions, which receiving parties add later (each signs its own).
    """
    # Shallow copies of just the objects that lose a key; everything else is shared.
    body = dict(doc)
    enc = body.get("encryptionInformation")
    if isinstance(enc, dict):
        body["encryptionInformation"] = {k: v for k, v in enc.items() if k != "keyAccess"}
    payload = body.get("payload")
    if isinstance(payload, dict):
        body["payload"] = {k: v for k, v in payload.items() if k != "tdf_spec_version"}
    assertions = body.get("assertions")
    if isinstance(assertions, list):
        body["assertions"] = [
            {k: v for k, v in a.items() if k != "binding"} if isinstance(a, dict) else a
            for a in assertions
            if not is_alternative(a)
        ]
    return hashlib.sha256(_MANIFEST_HASH_PREFIX + canonical(body)).hexdigest()


def is_alternative(assertion: object) -> bool:
    """Whether `assertion` is an alternative-label assertion (by its id)."""
    found = assertion.get("id") if isinstance(assertion, dict) else None
    return isinstance(found, str) and found.startswith(ALTERNATIVE_LABEL_PREFIX)


def assertion_hash(assertion: Mapping[str, Any]) -> bytes:
    """SHA-256 of an assertion's canonical JSON without its binding (OpenTDF)."""
    return hashlib.sha256(
        canonical({k: v for k, v in assertion.items() if k != "binding"})
    ).digest()


def build_manifest(
    *,
    policy_b64: str,
    key_access: list[dict[str, Any]],
    segments: list[dict[str, Any]],
    segment_size: int,
    root_sig: bytes,
    mime_type: str,
    assertions: list[dict[str, Any]],
    spec_version_in_payload: bool,
) -> dict[str, Any]:
    """The manifest document as cix writes it (OpenTDF 4.3.0 field meanings)."""
    payload: dict[str, Any] = {
        "type": "reference",
        "url": "0.payload",
        "protocol": "zip",
        "isEncrypted": True,
        "mimeType": mime_type,
    }
    if spec_version_in_payload:
        payload["tdf_spec_version"] = TDF_SPEC_VERSION
    doc: dict[str, Any] = {
        "schemaVersion": TDF_SPEC_VERSION,
        "payload": payload,
        "encryptionInformation": {
            "type": "split",
            "keyAccess": key_access,
            "method": {"algorithm": "AES-256-GCM", "iv": "", "isStreamable": True},
            "integrityInformation": {
                "rootSignature": {"alg": "HS256", "sig": b64(root_sig)},
                "segmentHashAlg": "GMAC",
                "segmentSizeDefault": segment_size,
                "encryptedSegmentSizeDefault": segment_size + SEGMENT_OVERHEAD,
                "segments": segments,
            },
            "policy": policy_b64,
        },
    }
    if assertions:
        doc["assertions"] = assertions
    return doc
