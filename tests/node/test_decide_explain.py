"""Issue 14 #4: `cix decide --dir DIR --person P --document ID` — why was a person refused a
document? The node's own registry and policies, every failing rule, the question audited."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from cix.agreements import bundled_registry
from cix.demo import PASSPHRASE, DemoNode, prepare
from cix.demo_cast import CANADA
from cix.labels import parse_label
from cix.node.service import Node
from tests.live_node import node_environ


@pytest.fixture(scope="module")
def can(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoNode, str]:
    """The seeded Canadian node (not served) and one of its SECRET//CPSP documents."""
    (demo,) = prepare(tmp_path_factory.mktemp("explain") / "demo", nations=(CANADA,),
                      base_port=0)  # fmt: skip
    node = Node.open(demo.data_dir, environ={"CIX_PASSPHRASE": PASSPHRASE})
    try:
        label = parse_label(
            "SECRET//CPSP//REL TO CAN, KOR", registry=bundled_registry(), created=node.clock()
        )
        doc = node.documents.upload(
            node.registry.actor_for("dnd-pm"), label=label, title="acoustics",
            media_type="text/plain", source=io.BytesIO(b"acoustic targets"),
        )  # fmt: skip
    finally:
        node.close()
    return demo, doc.id


def decide(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `cix decide ARGS`."""
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "decide", *args],
        env=node_environ(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_an_uncleared_contractor_is_refused_and_the_officer_sees_why(
    can: tuple[DemoNode, str],
) -> None:
    demo, doc = can
    done = decide("--dir", str(demo.data_dir), "--person", "northfab-eng", "--document", doc)
    assert done.returncode == 1, done.stderr
    decision = json.loads(done.stdout)
    assert decision["permit"] is False
    codes = [r["code"] for r in decision["reasons"]]
    assert any("facility" in code for code in codes), codes
    allowed = decide("--dir", str(demo.data_dir), "--person", "dnd-pm", "--document", doc)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["permit"] is True


def test_the_question_is_audited_as_the_operators(can: tuple[DemoNode, str]) -> None:
    demo, doc = can
    decide("--dir", str(demo.data_dir), "--person", "tide-eng", "--document", doc)
    tail = subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "audit", "tail", "--dir", str(demo.data_dir),
         "-n", "5"],
        env=node_environ(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert tail.returncode == 0, tail.stderr
    explained = [json.loads(line) for line in tail.stdout.splitlines() if '"explain"' in line]
    assert explained, tail.stdout
    assert explained[-1]["actor"].startswith("operator:")
    assert explained[-1]["details"]["person"] == "tide-eng"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--person", "dnd-pm"], "together"),
        (["--person", "dnd-pm", "--document", "0" * 32, "--label", "SECRET"], "not with"),
        (["--person", "nobody", "--document", "DOC"], "nobody"),
        (["--person", "dnd-pm", "--document", "0" * 32], "no live document"),
    ],
)
def test_bad_questions_are_bad_input_naming_what_is_wrong(
    can: tuple[DemoNode, str], extra: list[str], named: str
) -> None:
    demo, doc = can
    args = [a.replace("DOC", doc) for a in extra]
    done = decide("--dir", str(demo.data_dir), *args)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert named in done.stderr
    assert "Traceback" not in done.stderr
