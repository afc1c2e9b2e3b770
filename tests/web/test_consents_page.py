"""The consents queue: listed through the consent service, answered only as the API allows."""

from __future__ import annotations

import pytest

from cix.federation.message import new_message_id
from cix.node.register import new_id
from cix.node.service import Node
from cix.store.models import ReceivedCopy
from tests.federation.consent_nodes import document_row, outbox_enqueue
from tests.federation.consent_support import make_test_node
from tests.node_support import SQLITE_ONLY
from tests.web.conftest import WebClient

pytestmark = SQLITE_ONLY
KOR = make_test_node("KOR", ("kor-can",))


@pytest.fixture
def asked(web: WebClient, node: Node) -> str:
    """CAN holds a copy of KOR's document and has asked KOR's consent to release it."""
    node.consents.enqueue = outbox_enqueue
    node.peers.add(node.registry.actor_for("root"), KOR.document, agreement="kor-can")
    now = node.clock()
    local, origin = new_id(now), new_id(now)
    with node.db.write() as session:
        session.add(document_row(local, originator="KOR", now=now, title="hull"))
        session.flush()
        session.add(
            ReceivedCopy(
                document_id=local, message_id=new_message_id(), originator_party="KOR",
                originator_document_id=origin, copy_number=1, received_from="cix-kor",
                releasing_party="KOR", agreement="kor-can", purpose="defence-procurement",
                consent=None, received_at=now,
            )
        )  # fmt: skip
    consent = node.consents.request(
        node.registry.actor_for("nsa"),
        local,
        to_party="DEU",
        purpose="defence-procurement",
        reason="<b>TKMS</b> builds the hull",
    )
    return consent.id


def test_consent_this_node_asked_for_is_listed_not_waiting(web: WebClient, asked: str) -> None:
    web.sign_in("nsa")
    page = web.get("/ui/consents")
    assert page.status_code == 200
    assert "Nothing waits for an answer" in page.text
    assert asked in page.text
    assert 'class="banner banner-top-secret"' in page.text  # no label of its own: the top


def test_approving_a_consent_this_node_asked_for_is_refused(web: WebClient, asked: str) -> None:
    web.sign_in("nsa")
    web.get("/ui/consents")
    response = web.post(f"/ui/consents/{asked}/approve", data={"csrf": web.csrf})
    assert response.status_code == 404  # the consent service's answer, as the API's


def test_answering_a_consent_without_the_csrf_token_is_refused(web: WebClient, asked: str) -> None:
    web.sign_in("nsa")
    assert web.post(f"/ui/consents/{asked}/deny", data={}).status_code == 403
