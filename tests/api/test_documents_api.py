"""Documents through the API: sealing, filtered listing, opening with obligations, derive,
copies, destruction and incidents, each checked against the rows and the audit events."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from cix.node.auditing import MemoryAuditSink
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import (
    MembershipIn,
    OrganisationPatch,
    PersonIn,
    PersonPatch,
    ProgrammeIn,
    RegistryClearance,
)
from cix.node.service import Node
from tests.node_support import SQLITE_ONLY, T0, ApiClient, assert_problem, events

YEAR = T0 + timedelta(days=365)


def _label(
    classification: str = "S",
    *,
    policy: str = "can-national",
    releasable_to: tuple[str, ...] = ("CAN",),
    programmes: tuple[str, ...] = (),
    caveats: tuple[str, ...] = (),
) -> str:
    return json.dumps(
        {
            "policy": policy,
            "originator": "CAN",
            "classification": classification,
            "releasable_to": list(releasable_to),
            "programmes": list(programmes),
            "caveats": list(caveats),
        }
    )


def _cast(node: Node) -> None:
    reg = node.registry
    reg.update_organisation(
        SYSTEM,
        "acme",
        OrganisationPatch(
            facility_clearance=RegistryClearance(level="S", party="CAN", expires=YEAR)
        ),
    )
    secret = RegistryClearance(level="S", party="CAN", expires=YEAR)
    for person_id, org, roles, clearance in [
        ("olivia", "dnd", [Role.ORIGINATOR], secret),
        ("carl", "dnd", [Role.READER], RegistryClearance(level="C", party="CAN", expires=YEAR)),
        ("kim", "dnd", [Role.READER], secret),
    ]:
        reg.create_person(
            SYSTEM,
            PersonIn(
                id=person_id,
                name=person_id,
                organisation=org,
                nationalities=["KOR"] if person_id == "kim" else ["CAN"],
                clearance=clearance,
                briefed_until=YEAR,
                roles=roles,
            ),
        )
    for person_id in ("alice", "bob"):
        reg.update_person(SYSTEM, person_id, PersonPatch(clearance=secret, briefed_until=YEAR))
    reg.create_programme(SYSTEM, ProgrammeIn(id="CPSP", title="Submarines", party="CAN"))
    reg.grant_membership(
        SYSTEM,
        MembershipIn(person="olivia", programme="CPSP", valid_until=YEAR, justification="lead"),
    )


@pytest.fixture
def docs(api: ApiClient) -> ApiClient:
    _cast(api.node)
    return api


def _upload(api: ApiClient, label: str, title: str, body: bytes = b"payload") -> dict[str, Any]:
    response = api.as_("olivia").post(
        "/api/v1/documents",
        params={"label": label, "title": title},
        content=body,
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _titles(api: ApiClient, person: str, **params: Any) -> list[str]:
    response = api.as_(person).get("/api/v1/documents", params=params)
    assert response.status_code == 200, response.text
    return [d["title"] for d in response.json()["items"]]


def test_upload_then_open_streams_the_content_with_obligations(
    docs: ApiClient, audit: MemoryAuditSink
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, several segments
    created = _upload(docs, _label(), "Hull survey", body)
    assert created["plaintext_size"] == len(body)
    assert created["sealed_size"] > len(body)
    assert created["banner"].startswith("SECRET")
    opened = docs.as_("alice").get(f"/api/v1/documents/{created['id']}/content")
    assert opened.status_code == 200
    assert opened.content == body
    assert opened.headers["cix-reader"] == "alice"
    assert "SECRET" in opened.headers["cix-marking"]
    assert json.loads(opened.headers["cix-obligations"])
    kinds = [(e.type, e.actor, e.action, e.decision) for e in audit.events[-2:]]
    assert kinds == [
        ("document", "alice", "read", "permit"),
        ("key-access", "alice", "unwrap", "permit"),
    ]


def test_sealed_blob_holds_no_plaintext(docs: ApiClient, node: Node) -> None:
    secret_text = b"the reactor is a MARK-7 design" * 100
    created = _upload(docs, _label(), "Reactor", secret_text)
    blob = next(node.blobs.hashes())
    sealed = node.blobs.path(blob).read_bytes()
    assert b"MARK-7" not in sealed
    assert created["sealed_size"] == len(sealed)


def test_listing_shows_only_what_each_reader_may_read(docs: ApiClient) -> None:
    _upload(docs, _label("C"), "confidential memo")
    _upload(docs, _label("S"), "secret plan")
    _upload(docs, _label("S", programmes=("CPSP",)), "submarine design")
    _upload(docs, _label("S", caveats=("GOVONLY",)), "cabinet note")
    _upload(docs, _label("S", policy="kor-can", releasable_to=("CAN", "KOR")), "joint exercise")
    assert _titles(docs, "olivia") == [
        "joint exercise",
        "cabinet note",
        "submarine design",
        "secret plan",
        "confidential memo",
    ]
    assert _titles(docs, "alice") == [
        "joint exercise",
        "cabinet note",
        "secret plan",
        "confidential memo",
    ]
    assert _titles(docs, "bob") == ["joint exercise", "secret plan", "confidential memo"]
    assert _titles(docs, "carl") == ["confidential memo"]
    assert _titles(docs, "kim") == ["joint exercise"]


def test_listing_never_leaks_a_title_or_label(docs: ApiClient) -> None:
    _upload(docs, _label("S", programmes=("CPSP",)), "submarine design")
    response = docs.as_("alice").get("/api/v1/documents", params={"q": "submarine"})
    assert response.json()["items"] == []
    assert "submarine" not in response.text
    assert "CPSP" not in response.text


def test_contractor_never_sees_government_only(docs: ApiClient) -> None:
    created = _upload(docs, _label("S", caveats=("GOVONLY",)), "cabinet note")
    assert _titles(docs, "bob") == []
    assert_problem(docs.as_("bob").get(f"/api/v1/documents/{created['id']}"), 403)
    assert_problem(docs.as_("bob").get(f"/api/v1/documents/{created['id']}/content"), 403)


def test_expired_clearance_sees_nothing(docs: ApiClient, node: Node) -> None:
    _upload(docs, _label("C"), "confidential memo")
    node.clock.advance(days=400)  # type: ignore[attr-defined]
    assert _titles(docs, "carl") == []


def test_denied_open_is_403_opaque_and_audited_with_reasons(
    docs: ApiClient, audit: MemoryAuditSink
) -> None:
    created = _upload(docs, _label("S", programmes=("CPSP",)), "submarine design")
    problem = assert_problem(docs.as_("alice").get(f"/api/v1/documents/{created['id']}"), 403)
    assert "CPSP" not in json.dumps(problem)
    assert "reasons" not in problem
    denial = events(audit, "document")[-1]
    assert denial.decision == "deny"
    assert any(r.startswith("programme-missing") for r in denial.reasons)


def test_refusal_is_no_oracle_for_why(docs: ApiClient, audit: MemoryAuditSink) -> None:
    # Different failing rules (a programme, a clearance) must answer byte-identical problems,
    # or a reader could probe a document's classification and programmes by its refusals.
    cpsp = _upload(docs, _label("S", programmes=("CPSP",)), "submarine design")
    secret = _upload(docs, _label("S"), "secret memo")
    for_programme = docs.as_("alice").get(f"/api/v1/documents/{cpsp['id']}")
    programme_reasons = events(audit, "document")[-1].reasons
    for_clearance = docs.as_("carl").get(f"/api/v1/documents/{secret['id']}")
    clearance_reasons = events(audit, "document")[-1].reasons
    assert for_programme.status_code == for_clearance.status_code == 403
    assert for_programme.content == for_clearance.content
    assert any(r.startswith("programme-missing") for r in programme_reasons)
    assert not any(r.startswith("programme-missing") for r in clearance_reasons)
    assert clearance_reasons
    assert set(clearance_reasons) != set(programme_reasons)


def test_pagination_by_cursor_has_no_gaps_or_repeats(docs: ApiClient) -> None:
    for i in range(5):
        _upload(docs, _label("C"), f"memo {i}")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = docs.as_("alice").get("/api/v1/documents", params=params).json()
        seen += [d["title"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"memo {i}" for i in reversed(range(5))]


def test_reader_without_originator_role_cannot_upload(docs: ApiClient, node: Node) -> None:
    response = docs.as_("alice").post(
        "/api/v1/documents", params={"label": _label(), "title": "x"}, content=b"data"
    )
    # Issue 14 #2: the caller's own request is told the role it needs.
    assert assert_problem(response, 403)["detail"] == "role required: originator"
    assert list(node.blobs.hashes()) == []


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("label", "message"),
    [
        (_label("ULTRA"), "ULTRA"),
        ('{"policy": "can-national"', "not valid JSON"),
        (_label(policy="can-deu", releasable_to=("CAN", "DEU")), "not held here"),
        (_label(releasable_to=("CAN", "KOR")), "releasable_to"),
    ],
)
def test_bad_label_is_400_and_nothing_is_stored(
    docs: ApiClient, node: Node, label: str, message: str
) -> None:
    response = docs.as_("olivia").post(
        "/api/v1/documents", params={"label": label, "title": "x"}, content=b"data"
    )
    problem = assert_problem(response, 400)
    assert message in problem["detail"]
    assert list(node.blobs.hashes()) == []


def test_write_down_is_refused(docs: ApiClient, audit: MemoryAuditSink, node: Node) -> None:
    source = _upload(docs, _label("S", programmes=("CPSP",)), "submarine design")
    response = docs.as_("olivia").post(
        "/api/v1/documents",
        params={"label": _label("C"), "title": "summary", "source": source["id"]},
        content=b"less secret",
    )
    detail = assert_problem(response, 403)["detail"]
    # The label is the caller's own input, so the rule it broke is named (issue 14 #2).
    assert detail.startswith("write-down: the new label does not dominate a source"), detail
    assert any(r.startswith("write-down") for r in events(audit, "document")[-1].reasons)
    assert len(list(node.blobs.hashes())) == 1


def test_derive_records_its_sources(docs: ApiClient) -> None:
    source = _upload(docs, _label("C"), "memo")
    response = docs.as_("olivia").post(
        "/api/v1/documents",
        params={"label": _label("S"), "title": "analysis", "source": source["id"]},
        content=b"more",
    )
    assert response.status_code == 201, response.text
    assert response.json()["sources"] == [source["id"]]


def test_reproductions_are_numbered_and_holder_checked(docs: ApiClient) -> None:
    doc = _upload(docs, _label("S"), "plan")
    url = f"/api/v1/documents/{doc['id']}/reproductions"
    first = docs.as_("alice").post(url, json={"holder": "alice", "reason": "briefing"})
    second = docs.as_("alice").post(url, json={"holder": "bob", "reason": "site visit"})
    assert (first.json()["copy_number"], second.json()["copy_number"]) == (1, 2)
    assert_problem(docs.post(url, json={"holder": "carl", "reason": "no"}), 403)
    assert docs.as_("olivia").get(f"/api/v1/documents/{doc['id']}").json()["copies_made"] == 2


def test_destruction_erases_and_certifies(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    doc = _upload(docs, _label("S"), "plan")
    url = f"/api/v1/documents/{doc['id']}"
    assert_problem(docs.as_("alice").post(f"{url}/destroy", json={"reason": "mine now"}), 403)
    certificate = docs.as_("olivia").post(f"{url}/destroy", json={"reason": "superseded"})
    assert certificate.status_code == 200, certificate.text
    assert certificate.json()["document"] == doc["id"]
    assert list(node.blobs.hashes()) == []
    assert_problem(docs.get(f"{url}/content"), 404)
    assert _titles(docs, "olivia") == []
    assert docs.get(f"{url}/certificate").json()["id"] == certificate.json()["id"]
    assert "destroyed" in [e.action for e in events(audit, "document")]
    # Issue 14 #9: the register keeps the entry, as destroyed, for those entitled to the
    # certificate (the custodian here); another reader gets the 404 of an unknown id.
    entry = docs.as_("olivia").get(url).json()
    assert entry["certificate"] == certificate.json()["id"]
    assert entry["destroyed_at"] == certificate.json()["destroyed_at"]
    assert_problem(docs.as_("alice").get(url), 404)
    assert_problem(docs.as_("alice").get(f"{url}/certificate"), 404)


def test_destruction_certificate_is_signed_and_an_altered_one_is_detected(
    docs: ApiClient, node: Node
) -> None:
    from cix.node.errors import CertificateInvalid
    from cix.node.procedures.destruction import verify_certificate

    doc = _upload(docs, _label("S"), "plan")
    url = f"/api/v1/documents/{doc['id']}"
    cert = docs.as_("olivia").post(f"{url}/destroy", json={"reason": "superseded"}).json()
    assert node.keys is not None
    key = node.keys.signing.public
    assert verify_certificate(cert, key)["reason"] == "superseded"
    for field, value in (("reason", "never destroyed"), ("copies_made", 7), ("party", "KOR")):
        with pytest.raises(CertificateInvalid):
            verify_certificate({**cert, field: value}, key)
    with pytest.raises(CertificateInvalid):
        verify_certificate({**cert, "signature": cert["signature"][:-4] + "AAAA"}, key)


def test_incident_report(docs: ApiClient, audit: MemoryAuditSink) -> None:
    doc = _upload(docs, _label("S"), "plan")
    response = docs.as_("alice").post(
        "/api/v1/incidents",
        json={"document": doc["id"], "kind": "loss", "description": "copy 1 missing"},
    )
    assert response.status_code == 201, response.text
    assert events(audit, "document")[-1].action == "incident"
    assert_problem(docs.post("/api/v1/incidents", json={"kind": "theft", "description": "x"}), 422)


@SQLITE_ONLY
def test_tampered_blob_is_refused_and_the_reason_audited(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    doc = _upload(docs, _label("S"), "plan", b"x" * 5000)
    path = node.blobs.path(next(node.blobs.hashes()))
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    path.write_bytes(bytes(data))
    response = docs.get(f"/api/v1/documents/{doc['id']}/content")
    assert_problem(response, 403)
    last = audit.events[-1]
    assert (last.type, last.decision) == ("key-access", "deny")
    assert last.reasons
    assert last.reasons != ("refused",)


@SQLITE_ONLY
def test_key_access_refuses_without_a_permit_and_audits_it(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    from cix.errors import Refused
    from cix.node.keyaccess import Expected, KeyAccess
    from cix.policy import Decision, Reason

    _upload(docs, _label("S"), "plan")
    blob = next(node.blobs.hashes())
    access = KeyAccess(node.keys, audit, node.blobs, party="CAN")
    denial = Decision(permit=False, reasons=(Reason("clearance-missing", "none"),), obligations=())

    class Sink:
        def __init__(self) -> None:
            self.data = b""

        def write(self, data: bytes) -> int:
            self.data += data
            return len(data)

    sink = Sink()

    def open_without_permit() -> None:
        grant = access.grant(
            node.registry.actor_for("carl"),
            "document:x",
            now=node.clock(),
            permit=denial,
            expected=Expected(label_json={}, document_id="0" * 32),
        )
        grant.open(blob, sink)  # type: ignore[arg-type]  # never reached: grant refuses

    with pytest.raises(Refused):
        open_without_permit()
    assert sink.data == b""
    last = audit.events[-1]
    assert (last.type, last.actor, last.decision, last.reasons) == (
        "key-access",
        "carl",
        "deny",
        ("no-permit",),
    )


@SQLITE_ONLY
def test_recovery_removes_partial_and_orphan_blobs_but_keeps_registered_ones(
    docs: ApiClient, node: Node
) -> None:
    kept = _upload(docs, _label("S"), "plan", b"registered")
    orphan = node.blobs.put([b"sealed but never registered: the crash came first"])
    (node.blobs.root / "tmp" / "half-written").write_bytes(b"partial")
    assert node.destruction.recover() == (1, 1)
    assert not node.blobs.exists(orphan.sha256)
    opened = docs.as_("olivia").get(f"/api/v1/documents/{kept['id']}/content")
    assert opened.content == b"registered"


def test_repeated_source_is_refused_without_phantom_audit(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    source = _upload(docs, _label("C"), "memo")
    before = len(audit.events)
    response = docs.as_("olivia").post(
        "/api/v1/documents",
        params={"label": _label("S"), "title": "analysis", "source": [source["id"]] * 2},
        content=b"derived",
    )
    assert "source" in assert_problem(response, 400)["detail"]
    assert [e for e in audit.events[before:] if e.decision == "permit"] == []
    assert len(list(node.blobs.hashes())) == 1
    assert _titles(docs, "olivia") == ["memo"]


def test_failed_upload_leaves_no_permit_and_no_blob(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    node.documents.max_upload_bytes = 10
    before = len(audit.events)
    response = docs.as_("olivia").post(
        "/api/v1/documents", params={"label": _label("S"), "title": "big"}, content=b"x" * 100
    )
    assert_problem(response, 413)
    assert [e for e in audit.events[before:] if e.decision == "permit"] == []
    assert list(node.blobs.hashes()) == []


@pytest.mark.parametrize("size", [5000, 2 << 20], ids=["in-memory", "streamed"])
def test_missing_blob_is_refused_and_audited(
    docs: ApiClient, node: Node, audit: MemoryAuditSink, size: int
) -> None:
    doc = _upload(docs, _label("S"), "plan", b"x" * size)
    node.blobs.path(next(node.blobs.hashes())).unlink()
    assert_problem(docs.as_("alice").get(f"/api/v1/documents/{doc['id']}/content"), 403)
    last = audit.events[-1]
    assert (last.type, last.decision, last.reasons) == ("key-access", "deny", ("blob-missing",))


@pytest.mark.parametrize("size", [5000, 2 << 20], ids=["in-memory", "streamed"])
def test_directory_in_place_of_blob_is_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink, size: int
) -> None:
    doc = _upload(docs, _label("S"), "plan", b"x" * size)
    path = node.blobs.path(next(node.blobs.hashes()))
    path.unlink()
    path.mkdir()
    assert_problem(docs.as_("alice").get(f"/api/v1/documents/{doc['id']}/content"), 403)
    last = audit.events[-1]
    assert (last.type, last.decision, last.reasons) == (
        "key-access",
        "deny",
        ("blob-not-a-file",),
    )


def test_reproduction_route_does_not_reveal_people(docs: ApiClient, audit: MemoryAuditSink) -> None:
    doc = _upload(docs, _label("S"), "plan")
    url = f"/api/v1/documents/{doc['id']}/reproductions"
    # alice cannot see /people (a reader), so the route must not tell her who exists.
    unknown = docs.as_("alice").post(url, json={"holder": "nobody", "reason": "x"})
    not_entitled = docs.as_("alice").post(url, json={"holder": "carl", "reason": "x"})
    assert unknown.status_code == not_entitled.status_code == 403
    assert unknown.json() == not_entitled.json()
    assert events(audit, "document")[-2].reasons == ("holder-unknown",)
    assert docs.as_("olivia").get(f"/api/v1/documents/{doc['id']}").json()["copies_made"] == 0


@pytest.mark.parametrize("title", ["a\x00b", "\x1b[31mred", "one\r\ntwo", "tab\there", "x\u2028y"])
def test_title_with_control_characters_is_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink, title: str
) -> None:
    before = len(audit.events)
    response = docs.as_("olivia").post(
        "/api/v1/documents", params={"label": _label("S"), "title": title}, content=b"data"
    )
    assert "title" in assert_problem(response, 400)["detail"]
    assert list(node.blobs.hashes()) == []
    assert [e for e in audit.events[before:] if e.decision == "permit"] == []


def test_content_is_served_as_an_attachment_never_sniffed(docs: ApiClient) -> None:
    for size in (100, 2 << 20):  # answered in one body, and streamed
        response = docs.as_("olivia").post(
            "/api/v1/documents",
            params={"label": _label("S"), "title": "page"},
            content=b"<script>alert(1)</script>".ljust(size, b" "),
            headers={"content-type": "text/html"},
        )
        assert response.status_code == 201, response.text
        opened = docs.get(f"/api/v1/documents/{response.json()['id']}/content")
        assert opened.status_code == 200
        assert opened.headers["x-content-type-options"] == "nosniff"
        assert opened.headers["content-disposition"] == "attachment"


def test_listing_past_many_refused_rows_still_finds_the_readable_ones(docs: ApiClient) -> None:
    # carl (CONFIDENTIAL) may read the two C documents only, with four SECRET ones between:
    # a page of one reads past whole batches of refused rows, then narrows to the labels left.
    _upload(docs, _label("C"), "c-old")
    for i in range(4):
        _upload(docs, _label("S"), f"s{i}")
    _upload(docs, _label("C"), "c-new")
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = docs.as_("carl").get("/api/v1/documents", params=params).json()
        seen += [d["title"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["c-new", "c-old"]
    assert _titles(docs, "carl", q="s") == []
