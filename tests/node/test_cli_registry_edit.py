"""Issue 14 #5: everything the registry API does, the command line does — show and update a
person or an organisation, withdraw a clearance, deactivate, revoke a membership, account
for a reproduction — each decided by the node's role rules and naming the rule it broke."""

from __future__ import annotations

import json
from pathlib import Path

from cix.demo import DemoNode
from tests.live_node import LiveNode
from tests.node.test_cli_client import can, cix, login

__all__ = ["can"]  # the served node, a fixture shared with test_cli_client


def test_show_and_update_a_person_and_withdraw_then_restore_access(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    nsa, analyst = tmp_path / "nsa.toml", tmp_path / "analyst.toml"
    login(can, "pspc-cso", nsa)
    login(can, "dnd-analyst", analyst)
    shown = cix("registry", "people", "show", "dnd-analyst", "--json", config=nsa)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["clearance"]["level"] == "S"

    no_reason = cix("registry", "people", "update", "dnd-analyst", "--withdraw-clearance",
                    config=nsa)  # fmt: skip
    assert no_reason.returncode == 2
    assert "reason" in no_reason.stderr
    withdrawn = cix("registry", "people", "update", "dnd-analyst", "--withdraw-clearance",
                    "--reason", "clearance under review", "--json", config=nsa)  # fmt: skip
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert json.loads(withdrawn.stdout)["clearance"] is None
    # Without a clearance the analyst reads nothing: the listing is empty, not an error.
    listed = cix("docs", "list", "--json", config=analyst)
    assert json.loads(listed.stdout)["items"] == []

    deactivated = cix("registry", "people", "update", "dnd-analyst", "--deactivate",
                      "--reason", "left the project", "--json", config=nsa)  # fmt: skip
    assert json.loads(deactivated.stdout)["active"] is False
    refused = cix("docs", "list", config=analyst)
    assert refused.returncode == 1

    nothing = cix("registry", "people", "update", "dnd-analyst", config=nsa)
    assert nothing.returncode == 2
    assert "nothing to change" in nothing.stderr


def test_a_reader_changing_the_registry_is_told_the_role_required(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    reader = tmp_path / "reader.toml"
    login(can, "tide-eng", reader)
    done = cix("registry", "organisations", "update", "northfab", "--facility-level", "S",
               "--facility-party", "CAN", "--facility-expires", "2030-01-01",
               "--reason", "self-service", config=reader)  # fmt: skip
    assert done.returncode == 1
    assert "role required" in done.stderr
    org = cix("registry", "organisations", "show", "northfab", "--json", config=reader)
    assert json.loads(org.stdout)["facility_clearance"] is None  # nothing changed


def test_revoke_a_membership_and_account_for_a_reproduction(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    nsa, pm = tmp_path / "nsa.toml", tmp_path / "pm.toml"
    login(can, "pspc-cso", nsa)
    login(can, "dnd-pm", pm)
    doc_file = tmp_path / "hull.txt"
    doc_file.write_text("hull\n")
    up = cix("docs", "upload", str(doc_file), "--label", "SECRET//CPSP//REL TO CAN, KOR",
             "--json", config=pm)  # fmt: skip
    doc = json.loads(up.stdout)
    copy = cix("docs", "reproduce", doc["id"][:20], "--holder", "tide-eng",
               "--reason", "for the yard", "--json", config=pm)  # fmt: skip
    assert copy.returncode == 0, copy.stderr
    assert json.loads(copy.stdout) == {"document": doc["id"], "copy_number": 1}
    assert (
        json.loads(cix("docs", "show", doc["id"], "--json", config=pm).stdout)["copies_made"] == 1
    )

    memberships = cix("registry", "memberships", "list", "--person", "tide-eng", "--json",
                      config=nsa)  # fmt: skip
    (membership,) = [m for m in json.loads(memberships.stdout) if m["revoked_at"] is None]
    revoked = cix("registry", "memberships", "revoke", str(membership["id"]),
                  "--reason", "contract ended", config=nsa)  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked membership {membership['id']} of tide-eng in CPSP" in revoked.stdout
    again = cix("registry", "memberships", "revoke", str(membership["id"]),
                "--reason", "contract ended", config=nsa)  # fmt: skip
    assert again.returncode != 0
    programme = cix("registry", "programmes", "show", "CPSP", "--json", config=nsa)
    assert json.loads(programme.stdout)["party"] == "CAN"
