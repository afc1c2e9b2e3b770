"""The CLI end to end in a subprocess: exit 0 on success, 1 with one opaque message on any
integrity or key failure, 2 on bad arguments, never a traceback."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cix.agreements import bundled_registry
from cix.labels import Label, banner, from_4774_xml

REFUSED = "refused: the object could not be verified or access is not permitted"


def cix(
    *args: str | Path, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"CIX_PASSPHRASE": "test passphrase"} | (env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    assert cix("keys", "generate", "--dir", d / "kor").returncode == 0
    assert cix("keys", "generate", "--dir", d / "can", "--kem", "x25519").returncode == 0
    assert cix("keys", "generate", "--dir", d / "deu", "--kem", "x25519").returncode == 0
    (d / "doc.txt").write_bytes(os.urandom(100_000))
    r = cix(
        "seal",
        d / "doc.txt",
        "-o",
        d / "doc.tdf",
        "--label",
        "군사Ⅱ급비밀//REL TO CAN, KOR",
        "--agreement",
        "kor-can",
        "--to",
        d / "kor" / "kem.pub",
        "--to",
        d / "can" / "kem.pub",
        "--sign",
        d / "kor" / "sign.key",
        "--segment-size",
        "32768",
    )
    assert r.returncode == 0, r.stderr
    return d


def test_open_round_trip(world: Path) -> None:
    r = cix(
        "open",
        world / "doc.tdf",
        "-o",
        world / "out.txt",
        "--key",
        world / "can" / "kem.key",
        "--trust",
        f"KOR={world / 'kor' / 'sign.pub'}",
    )
    assert r.returncode == 0, r.stderr
    assert (world / "out.txt").read_bytes() == (world / "doc.txt").read_bytes()
    label = json.loads(r.stdout)["label"]
    assert (label["policy"], label["originator"], label["classification"]) == (
        "kor-can",
        "KOR",
        "II",
    )


def test_open_with_wrong_key_exits_1_and_writes_nothing(world: Path) -> None:
    r = cix(
        "open",
        world / "doc.tdf",
        "-o",
        world / "nope.txt",
        "--key",
        world / "deu" / "kem.key",
        "--trust",
        f"KOR={world / 'kor' / 'sign.pub'}",
    )
    assert r.returncode == 1
    assert r.stderr.strip() == REFUSED
    assert not (world / "nope.txt").exists()
    assert not list(world.glob(".nope.txt.*"))


def test_open_without_trusted_signer_exits_1(world: Path) -> None:
    r = cix(
        "open", world / "doc.tdf", "-o", world / "nope2.txt", "--key", world / "can" / "kem.key"
    )
    assert r.returncode == 1
    assert r.stderr.strip() == REFUSED


def test_open_tampered_exits_1(world: Path) -> None:
    blob = bytearray((world / "doc.tdf").read_bytes())
    blob[5000] ^= 1
    (world / "bad.tdf").write_bytes(bytes(blob))
    r = cix(
        "open",
        world / "bad.tdf",
        "-o",
        world / "bad.txt",
        "--key",
        world / "can" / "kem.key",
        "--trust",
        f"KOR={world / 'kor' / 'sign.pub'}",
    )
    assert r.returncode == 1
    assert r.stderr.strip() == REFUSED
    assert "Traceback" not in r.stderr


def test_bad_arguments_exit_2(world: Path) -> None:
    r = cix("open", world / "missing.tdf", "-o", world / "x", "--key", world / "can" / "kem.key")
    assert r.returncode == 2
    assert "missing.tdf" in r.stderr
    # Not a sealed object: refused when opened (a defect of the object, told apart from
    # nothing else), and named by `inspect`.
    r = cix("open", world / "doc.txt", "-o", world / "x", "--key", world / "can" / "kem.key")
    assert r.returncode == 1
    assert "refused" in r.stderr
    assert "not a ZIP" not in r.stderr
    r = cix("inspect", world / "doc.txt")
    assert r.returncode == 2
    assert "not a ZIP" in r.stderr
    r = cix(
        *("open", world / "doc.tdf", "-o", world / "x", "--key", world / "can" / "kem.key"),
        *("--trust", world / "kor" / "sign.pub"),
    )
    assert r.returncode == 2
    assert "PARTY=sign.pub" in r.stderr
    assert cix("open", world / "doc.tdf").returncode == 2
    r = cix("keys", "generate", "--dir", world / "z", "--kem", "p256")
    assert r.returncode == 2


def test_wrong_passphrase_exits_2(world: Path) -> None:
    r = cix(
        "open",
        world / "doc.tdf",
        "-o",
        world / "x",
        "--key",
        world / "can" / "kem.key",
        env_extra={"CIX_PASSPHRASE": "wrong"},
    )
    assert r.returncode == 2
    assert "wrong passphrase" in r.stderr


def test_inspect_shows_the_label_without_a_key(world: Path) -> None:
    r = cix("inspect", world / "doc.tdf")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["label"]["originator"] == "KOR"
    xml_label = from_4774_xml(summary["labelXml"], registry=bundled_registry())
    assert isinstance(xml_label, Label)
    assert xml_label.to_json() == summary["label"]
    assert summary["verified"] is False
    assert len(summary["keyAccess"]) == 2
    # the banner a person reads (issue 14 #11), from the same label
    assert summary["banner"] == banner(xml_label, bundled_registry().get(xml_label.policy))
    assert summary["banner"].endswith("//REL TO CAN, KOR")


def test_rewrap_then_open_by_the_new_recipient(world: Path) -> None:
    # A second Canadian recipient: the label releases to CAN.
    r = cix(
        "rewrap",
        world / "doc.tdf",
        "--key",
        world / "can" / "kem.key",
        "--to",
        f"CAN={world / 'deu' / 'kem.pub'}",
        "-o",
        world / "fwd.tdf",
        "--trust",
        f"KOR={world / 'kor' / 'sign.pub'}",
    )
    assert r.returncode == 0, r.stderr
    r = cix(
        "open",
        world / "fwd.tdf",
        "-o",
        world / "fwd.txt",
        "--key",
        world / "deu" / "kem.key",
        "--trust",
        f"KOR={world / 'kor' / 'sign.pub'}",
    )
    assert r.returncode == 0, r.stderr
    assert (world / "fwd.txt").read_bytes() == (world / "doc.txt").read_bytes()


def test_bad_label_exits_2(world: Path) -> None:
    r = cix(
        "seal",
        world / "doc.txt",
        "-o",
        world / "x.tdf",
        "--label",
        "NOT A LEVEL//REL TO CAN",
        "-a",
        "kor-can",
        "--to",
        world / "can" / "kem.pub",
        "--sign",
        world / "kor" / "sign.key",
    )
    assert r.returncode == 2
    assert "NOT A LEVEL" in r.stderr
    assert not (world / "x.tdf").exists()


def test_keys_show_prints_no_private_material(world: Path) -> None:
    r = cix("keys", "show", "--dir", world / "kor", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["use"] for row in rows] == ["kem", "sign"]
    assert rows[0]["algorithm"] == "mlkem768-x25519"
    assert "PRIVATE" not in r.stdout
    assert "pkcs8" not in r.stdout


@pytest.mark.parametrize("form", ["xml", "json"])
def test_seal_takes_the_label_from_a_file(world: Path, form: str) -> None:
    inspected = json.loads(cix("inspect", world / "doc.tdf").stdout)
    text = inspected["labelXml"] if form == "xml" else json.dumps(inspected["label"])
    (world / f"label.{form}").write_text(text, encoding="utf-8")
    out = world / f"from-{form}.tdf"
    r = cix(
        "seal",
        world / "doc.txt",
        "-o",
        out,
        "--label",
        f"@{world / f'label.{form}'}",
        "--to",
        world / "can" / "kem.pub",
        "--sign",
        world / "kor" / "sign.key",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(cix("inspect", out).stdout)["label"] == inspected["label"]


def _cix_with_file_size_limit(limit: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`cix` unable to write a file past `limit` bytes: as a full disk, its write fails
    (EFBIG; Python ignores SIGXFSZ, so the process is not killed)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        env=os.environ | {"CIX_PASSPHRASE": "test passphrase"},
        timeout=120,
        check=False,
        preexec_fn=apply,  # only setrlimit, before exec
    )


def test_seal_that_cannot_write_exits_3_and_leaves_nothing(world: Path) -> None:
    # 8 MiB: four segments, written behind by a second thread; the write fails past 1 MiB.
    (world / "big.bin").write_bytes(os.urandom(8 << 20))
    r = _cix_with_file_size_limit(
        1 << 20,
        *("seal", world / "big.bin", "-o", world / "big.tdf"),
        *("--label", "군사Ⅱ급비밀//REL TO CAN, KOR", "--agreement", "kor-can"),
        *("--to", world / "can" / "kem.pub", "--sign", world / "kor" / "sign.key"),
    )
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: -o {world / 'big.tdf'}: nothing written (File too large)"
    assert not (world / "big.tdf").exists()
    assert not list(world.glob(".big.tdf.*"))


def test_open_that_cannot_write_exits_3_and_leaves_nothing(world: Path) -> None:
    r = _cix_with_file_size_limit(
        50_000,
        *("open", world / "doc.tdf", "-o", world / "cut.txt"),
        *("--key", world / "can" / "kem.key", "--trust", f"KOR={world / 'kor' / 'sign.pub'}"),
    )
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    assert "nothing written (File too large)" in r.stderr
    assert not (world / "cut.txt").exists()
    assert not list(world.glob(".cut.txt.*"))


def test_label_signed_by_other_nation_is_refused(world: Path) -> None:
    # Issue 10 #13: a Korean-originated label signed with Canada's key opened when both keys
    # were trusted. Trust is per party now: a KOR label must carry a KOR key's signature.
    r = cix(
        *("seal", world / "doc.txt", "-o", world / "forged.tdf"),
        *("--label", "군사Ⅲ급비밀//REL TO CAN, KOR", "--agreement", "kor-can"),
        *("--to", world / "can" / "kem.pub", "--sign", world / "can" / "sign.key"),
    )
    assert r.returncode == 0, r.stderr
    r = cix(
        *("open", world / "forged.tdf", "-o", world / "forged.txt"),
        *("--key", world / "can" / "kem.key"),
        *("--trust", f"KOR={world / 'kor' / 'sign.pub'}"),
        *("--trust", f"CAN={world / 'can' / 'sign.pub'}"),
    )
    assert r.returncode == 1
    assert "refused" in r.stderr
    assert not (world / "forged.txt").exists()


def _open_args(world: Path, output: str | Path) -> list[str | Path]:
    return [
        "open", world / "doc.tdf", "-o", output, "--key", world / "can" / "kem.key",
        "--trust", f"KOR={world / 'kor' / 'sign.pub'}",
    ]  # fmt: skip


def test_open_over_its_own_input_is_refused(world: Path) -> None:
    sealed = world / "doc.tdf"
    before = sealed.read_bytes()
    r = cix(*_open_args(world, sealed), "--force")
    assert r.returncode == 2, r.stderr
    assert "is the input" in r.stderr
    assert sealed.read_bytes() == before


def test_open_keeps_an_existing_file_unless_forced(world: Path) -> None:
    out = world / "kept.txt"
    out.write_bytes(b"my notes")
    kept = cix(*_open_args(world, out))
    assert kept.returncode == 2
    assert "--force" in kept.stderr
    assert out.read_bytes() == b"my notes"
    forced = cix(*_open_args(world, out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert out.read_bytes() == (world / "doc.txt").read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600


def test_open_to_dash_writes_standard_output(world: Path, tmp_path: Path) -> None:
    env = os.environ | {"CIX_PASSPHRASE": "test passphrase"}
    done = subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *map(str, _open_args(world, "-"))],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (world / "doc.txt").read_bytes()
    assert b'"label"' in done.stderr  # the summary, off the plaintext's stream
    assert not (tmp_path / "-").exists()


def _rewrap_to(world: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    out = world / "third.tdf"
    out.unlink(missing_ok=True)
    return cix(
        "rewrap",
        world / "doc.tdf",
        "--key",
        world / "can" / "kem.key",
        "-o",
        out,
        "--trust",
        f"KOR={world / 'kor' / 'sign.pub'}",
        *extra,
    )


def test_offline_rewrap_to_a_third_party_is_refused(world: Path) -> None:
    # Issue 14 #12: the label is REL TO CAN, KOR; DEU needs KOR's consent, which only a node
    # records. The refusal is of the caller's own request, so it names the rule.
    r = _rewrap_to(world, "--to", f"DEU={world / 'deu' / 'kem.pub'}")
    assert r.returncode == 1
    assert "releases to CAN, KOR, not to DEU" in r.stderr
    assert not (world / "third.tdf").exists()


def test_offline_rewrap_to_a_key_without_its_party_is_refused(world: Path) -> None:
    r = _rewrap_to(world, "--to", str(world / "deu" / "kem.pub"))
    assert r.returncode == 2
    # Click draws usage errors in a box as wide as the terminal (80 columns in CI), which
    # may break the message across lines: compare its words, not its layout.
    words = " ".join(re.sub(r"[\u2500-\u257f]", " ", r.stderr).split())
    assert "name the recipient's party" in words
    assert not (world / "third.tdf").exists()


def test_offline_rewrap_past_releasability_only_when_asked_and_warned(world: Path) -> None:
    r = _rewrap_to(world, "--to", str(world / "deu" / "kem.pub"), "--unsafe-ignore-releasability")
    assert r.returncode == 0, r.stderr
    assert "warning: releasability not checked" in r.stderr
    assert (world / "third.tdf").exists()
