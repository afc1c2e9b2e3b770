"""Sealed-object speed: cix seal/open against raw AES-256-GCM, `cp`, gpg and age.

Run: `.venv/bin/python -m bench envelope` (1 GiB, 9 rounds, every part), or e.g.
`.venv/bin/python -m bench.envelope --size 256M --rounds 9 --parts files`; the same through
`python -m bench envelope` with CIX_BENCH_ENVELOPE_SIZE, CIX_BENCH_ENVELOPE_ROUNDS and
CIX_BENCH_ENVELOPE_PARTS (memory, files, tools, hpke).

Every number is measured in the same run on the same data, and every target of docs/design.md is
printed as a ratio against its baseline:

- in memory (a memoryview source, which the envelope reads by zero-copy slices, and a sink
  that discards; a BytesIO source is shown too): cix >= 70% of raw AES-256-GCM of the same
  library on the same buffer in the same segment size (the faster of `encrypt` and
  `encrypt_into` a reused buffer); best of 3;
- file to file, as `cix seal` and `cix open` do it (input mapped, output a regular file):
  cix >= 70% of `cp` of the same file. `cp`, seal and open run in interleaved rounds after
  a warm-up, each run starting alike (see `_fresh`: no dirty pages, output removed, input
  in the page cache; no fsync inside any timed run); every round is printed with its load
  and stolen time, and the verdict is the ratio of the medians. On this VM a single run of
  `cp` moved between 0.3 and 3 s (the host takes back free memory, DAMON pages out idle
  page cache, other sessions share the two cores), hence rounds, not one best-of;
- cix (the median file-to-file runs) >= 5x `gpg --symmetric --cipher-algo AES256
  --compress-algo none` and >= 5x age (pyrage, and the Debian `age` binary where
  installed), one run each;
- HPKE unwrap of a payload key: X25519 <= 50 us, ML-KEM-768+X25519 <= 100 us.
"""

from __future__ import annotations

import argparse
import functools
import io
import mmap
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyrage
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cix import envelope
from cix.envelope import DEFAULT_SEGMENT_SIZE, mapped_input, seal
from cix.keys import KemAlgorithm, KemPrivateKey, SigningKey, generate_kem, generate_signing

GiB = 1 << 30
MiB = 1 << 20
IV = 12
TAG = 16
LABEL_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><originatorConfidentialityLabel'
    b' xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"/>'
)
LABEL_JSON: dict[str, Any] = {"policy": "kor-can", "originator": "CAN", "classification": "C"}


def _parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


class _NullSink(io.RawIOBase):
    """A writable stream that discards what it is given (the in-memory benchmark's sink)."""

    def writable(self) -> bool:
        """Always writable."""
        return True

    def write(self, b: Any) -> int:
        """Accept and drop `b`."""
        return memoryview(b).nbytes


def NullSink() -> BinaryIO:  # noqa: N802 - reads as the class it builds
    """A new discarding sink, typed as the binary stream the envelope API takes."""
    return cast(BinaryIO, _NullSink())


@dataclass(frozen=True)
class Result:
    """One measured operation: bytes processed, its best wall time and its best CPU time.

    CPU time is this process's (in-process work) plus its children's (tools run as
    subprocesses): on a machine shared with other jobs it is the steadier measure of what
    one core does; wall time is what a user waits.
    """

    name: str
    nbytes: int
    seconds: float
    cpu_seconds: float

    @property
    def gbps(self) -> float:
        """Wall-clock throughput in GB/s (10^9 bytes per second)."""
        return self.nbytes / self.seconds / 1e9

    @property
    def cpu_gbps(self) -> float:
        """Throughput per CPU second in GB/s."""
        return self.nbytes / max(self.cpu_seconds, 1e-9) / 1e9


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _best(
    name: str,
    nbytes: int,
    runs: int,
    fn: Callable[[], object],
    before: Callable[[], object] | None = None,
) -> Result:
    best, best_cpu = float("inf"), float("inf")
    for _ in range(runs):
        if before is not None:
            before()
        cpu, started = _cpu_now(), time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, _cpu_now() - cpu)
    result = Result(name, nbytes, best, best_cpu)
    print(
        f"  {name:<46} {result.gbps:7.3f} GB/s wall ({best:6.3f} s)"
        f" {result.cpu_gbps:7.3f} GB/s cpu ({best_cpu:6.3f} s)",
        flush=True,
    )
    return result


def _faster(a: Result, b: Result) -> Result:
    """The better of two ways to do the same work, by wall time and by CPU time apiece."""
    return Result(
        f"{a.name} | {b.name}",
        a.nbytes,
        min(a.seconds, b.seconds),
        min(a.cpu_seconds, b.cpu_seconds),
    )


# --- raw AES-256-GCM, the same library, the same segments ------------------------------


def _raw_encrypt(data: memoryview, segment: int) -> None:
    aead = AESGCM(b"\x01" * 32)
    for start in range(0, len(data), segment):
        aead.encrypt(os.urandom(IV), data[start : start + segment], None)


def _raw_encrypt_into(data: memoryview, segment: int) -> None:
    aead = AESGCM(b"\x01" * 32)
    out = bytearray(segment + TAG)
    for start in range(0, len(data), segment):
        chunk = data[start : start + segment]
        aead.encrypt_into(os.urandom(IV), chunk, None, memoryview(out)[: len(chunk) + TAG])


def _raw_sealed(data: memoryview, segment: int) -> list[tuple[bytes, bytes]]:
    aead = AESGCM(b"\x01" * 32)
    sealed = []
    for start in range(0, len(data), segment):
        iv = os.urandom(IV)
        sealed.append((iv, aead.encrypt(iv, data[start : start + segment], None)))
    return sealed


def _raw_decrypt(sealed: list[tuple[bytes, bytes]]) -> None:
    aead = AESGCM(b"\x01" * 32)
    for iv, ciphertext in sealed:
        aead.decrypt(iv, ciphertext, None)


def _raw_decrypt_into(sealed: list[tuple[bytes, bytes]], segment: int) -> None:
    aead = AESGCM(b"\x01" * 32)
    out = bytearray(segment)
    for iv, ciphertext in sealed:
        aead.decrypt_into(iv, ciphertext, None, memoryview(out)[: len(ciphertext) - TAG])


def _raw_section(data: memoryview, segment: int) -> tuple[Result, Result]:
    size = len(data)
    enc = _faster(
        _best(
            "raw AES-256-GCM encrypt (new buffers)", size, 3, lambda: _raw_encrypt(data, segment)
        ),
        _best(
            "raw AES-256-GCM encrypt_into (reused buffer)",
            size,
            3,
            lambda: _raw_encrypt_into(data, segment),
        ),
    )
    sealed = _raw_sealed(data, segment)
    dec = _faster(
        _best("raw AES-256-GCM decrypt (new buffers)", size, 3, lambda: _raw_decrypt(sealed)),
        _best(
            "raw AES-256-GCM decrypt_into (reused buffer)",
            size,
            3,
            lambda: _raw_decrypt_into(sealed, segment),
        ),
    )
    return enc, dec


# --- cix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """The recipient (cix's default KEM, the hybrid) and the originator's signing key."""

    recipient: KemPrivateKey
    signer: SigningKey


def _seal(src: BinaryIO | memoryview | mmap.mmap, dst: BinaryIO, keys: Keys) -> None:
    seal(
        src,
        dst,
        label_xml=LABEL_XML,
        label_json=LABEL_JSON,
        recipients=[keys.recipient.public],
        signer=keys.signer,
    )


def _open(src: BinaryIO | memoryview | mmap.mmap, dst: BinaryIO, keys: Keys) -> None:
    envelope.open(
        src, dst, private_key=keys.recipient, trusted_signers={"CAN": [keys.signer.public]}
    )


def _seal_file(src: Path, dst: Path, keys: Keys) -> None:
    # As `cix seal` does: the input file mapped, sealed without copying it in.
    with src.open("rb") as fin, dst.open("wb") as fout, mapped_input(fin) as source:
        _seal(source, fout, keys)


def _open_file(src: Path, dst: Path, keys: Keys) -> None:
    # As `cix open` does: the sealed file mapped, read in place.
    with src.open("rb") as fin, dst.open("wb") as fout, mapped_input(fin) as source:
        _open(source, fout, keys)


def _memory_section(data: bytes, keys: Keys) -> tuple[Result, Result, Result, Result]:
    size = len(data)
    view = memoryview(data)
    sealing = _best("cix seal, memoryview source", size, 3, lambda: _seal(view, NullSink(), keys))
    _best("cix seal, BytesIO source", size, 3, lambda: _seal(io.BytesIO(data), NullSink(), keys))
    out = io.BytesIO()
    _seal(view, out, keys)
    sealed = out.getvalue()
    del out
    sealed_view = memoryview(sealed)
    opening = _best(
        "cix open, memoryview source", size, 3, lambda: _open(sealed_view, NullSink(), keys)
    )
    _best("cix open, BytesIO source", size, 3, lambda: _open(io.BytesIO(sealed), NullSink(), keys))
    identity = pyrage.x25519.Identity.generate()
    recipient = identity.to_public()
    age_enc = _best(
        "age (pyrage) encrypt, bytes to bytes", size, 1, lambda: pyrage.encrypt(data, [recipient])
    )
    age_sealed = pyrage.encrypt(data, [recipient])
    age_dec = _best(
        "age (pyrage) decrypt, bytes to bytes",
        size,
        1,
        lambda: pyrage.decrypt(age_sealed, [identity]),
    )
    return sealing, opening, age_enc, age_dec


# --- files: cp, cix, gpg, age ------------------------------------------------------------


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def _gpg(home: Path, *args: str) -> list[str]:
    passphrase = "cix-bench-not-a-secret"
    return [
        *("gpg", "--homedir", str(home), "--batch", "--yes", "--quiet"),
        *("--pinentry-mode", "loopback", "--passphrase", passphrase, *args),
    ]


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cix-bench-envelope-") as name:
        yield Path(name)


@dataclass(frozen=True)
class Rounds:
    """Repeated timings of one operation, one per round (wall and CPU seconds)."""

    name: str
    nbytes: int
    seconds: list[float]
    cpu_seconds: list[float]

    def median(self) -> Result:
        """The median round, by wall time and by CPU time apiece."""
        return Result(
            self.name,
            self.nbytes,
            statistics.median(self.seconds),
            statistics.median(self.cpu_seconds),
        )


def _fresh(output: Path, source: Path) -> None:
    """Start a run as every other starts, untimed: nothing left dirty by earlier runs to
    throttle its writes (`sync`), its output absent (no truncation of an earlier run's
    file), and its input in the page cache.

    Two properties of this VM decide the order. Free page reporting is on (virtio-balloon,
    pages of 2 MiB free for 2 s are handed back to the host, which must fault them in again
    when they are reused): the old output is removed after `sync`, just before the run, so
    that every run reuses the memory it frees, instead of paying or not for host faults
    depending on how long `sync` took (this alone moved `cp` of 1 GiB between 0.3 and 2.5 s).
    And DAMON pages out memory left unused for about a minute (a `pageout` scheme), page
    cache included: the input is read through, so that no run times the disk.
    """
    os.sync()
    output.unlink(missing_ok=True)
    buf = bytearray(8 * MiB)
    with source.open("rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def _steal_seconds() -> float:
    """CPU time the hypervisor gave to others, summed over this VM's CPUs (0 if unknown)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    cpu, started = _cpu_now(), time.perf_counter()
    fn()
    return time.perf_counter() - started, _cpu_now() - cpu


def _file_rounds(data: bytes, keys: Keys, work: Path, rounds: int) -> tuple[Rounds, ...]:
    """`cp`, `cix seal` and `cix open` of the same file, interleaved round by round.

    Each round runs the three once, in an order rotated from round to round (so that no
    operation always follows the same one); `open` reads an object sealed before the first
    round, so that it does not depend on the round's seal. Every run starts from `_fresh`.
    Each round prints its load average and the CPU time stolen by the hypervisor during
    its three timed runs, the two things besides cix that move these timings. A warm-up
    round comes first and is not counted.
    """
    size = len(data)
    plain, copy, sealed, reference, out = (
        work / n for n in ("in.bin", "cp.bin", "in.cix", "ref.cix", "out.bin")
    )
    plain.write_bytes(data)
    _seal_file(plain, reference, keys)
    runs: dict[str, tuple[Path, Path, Callable[[], object]]] = {
        "cp": (copy, plain, lambda: _run(["cp", str(plain), str(copy)])),
        "cix seal": (sealed, plain, lambda: _seal_file(plain, sealed, keys)),
        "cix open": (out, reference, lambda: _open_file(reference, out, keys)),
    }
    names = list(runs)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    print(
        f"  {'round':<5} {'load':>5} {'steal':>6}"
        + "".join(f" {n:>9}" for n in names)
        + "   seal/cp open/cp"
    )
    # Round 0 is a warm-up, printed but not counted: with no earlier output to remove, its
    # runs write into memory the host has to fault in (see `_fresh`).
    for r in range(rounds + 1):
        steal = 0.0
        timings: dict[str, tuple[float, float]] = {}
        for name in names[r % len(names) :] + names[: r % len(names)]:
            output, source, fn = runs[name]
            _fresh(output, source)
            stolen = _steal_seconds()
            timings[name] = _timed(fn)
            steal += _steal_seconds() - stolen
        if r > 0:
            for name, (seconds, cpu_seconds) in timings.items():
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
        cp, seal_s, open_s = (timings[n][0] for n in names)
        print(
            f"  {r if r else 'warm':<5} {os.getloadavg()[0]:5.2f} {steal:5.2f}s"
            + "".join(f" {timings[n][0]:8.3f}s" for n in names)
            + f"   {cp / seal_s:7.2f} {cp / open_s:7.2f}",
            flush=True,
        )
    if out.read_bytes() != data:
        raise SystemExit("cix open did not give back the input: the benchmark is void")
    for path in (copy, sealed, reference, out):
        path.unlink(missing_ok=True)
    results = tuple(Rounds(n, size, wall[n], cpu[n]) for n in names)
    for res in results:
        med = res.median()
        print(
            f"  {res.name:<9} median {med.seconds:6.3f} s ({med.gbps:6.3f} GB/s),"
            f" min {min(res.seconds):6.3f} s, max {max(res.seconds):6.3f} s;"
            f" CPU median {med.cpu_seconds:6.3f} s",
            flush=True,
        )
    for name in names[1:]:
        # Within a round the three run seconds apart: a slow spell of the VM tends to hit
        # all three, so the per-round ratios show how steady the comparison is.
        per_round = [c / x for c, x in zip(wall["cp"], wall[name], strict=True)]
        print(
            f"  {name} / cp per round: median {statistics.median(per_round):.2f},"
            f" min {min(per_round):.2f}, max {max(per_round):.2f}",
            flush=True,
        )
    return results


@dataclass(frozen=True)
class ToolResults:
    """File-to-file results of gpg and age (one run each: they are 5-50x slower)."""

    gpg_enc: Result
    gpg_dec: Result
    age_enc: Result
    age_dec: Result
    age_bin_enc: Result | None
    age_bin_dec: Result | None


def _tools_section(data: bytes, work: Path) -> ToolResults:
    size = len(data)
    plain, out = work / "in.bin", work / "out.bin"
    plain.write_bytes(data)
    home = work / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    gpg_file = work / "in.gpg"
    symmetric = ("--symmetric", "--cipher-algo", "AES256", "--compress-algo", "none")
    gpg_enc = _best(
        "gpg --symmetric AES256, no compression",
        size,
        1,
        lambda: _run(_gpg(home, *symmetric, "-o", str(gpg_file), str(plain))),
        functools.partial(_fresh, gpg_file, plain),
    )
    gpg_dec = _best(
        "gpg --decrypt",
        size,
        1,
        lambda: _run(_gpg(home, "-o", str(out), "--decrypt", str(gpg_file))),
        functools.partial(_fresh, out, gpg_file),
    )
    gpg_file.unlink()
    out.unlink()

    identity = pyrage.x25519.Identity.generate()
    recipient = identity.to_public()
    age_file = work / "in.age"
    age_enc = _best(
        "age (pyrage) encrypt, X25519",
        size,
        1,
        lambda: pyrage.encrypt_file(str(plain), str(age_file), [recipient]),
        functools.partial(_fresh, age_file, plain),
    )
    age_dec = _best(
        "age (pyrage) decrypt",
        size,
        1,
        lambda: pyrage.decrypt_file(str(age_file), str(out), [identity]),
        functools.partial(_fresh, out, age_file),
    )
    age_file.unlink()
    out.unlink()

    age_bin = shutil.which("age")
    if age_bin is None:
        print("  age binary: skipped, not installed (Debian: apt-get install -y age)")
        return ToolResults(gpg_enc, gpg_dec, age_enc, age_dec, None, None)
    key_file = work / "age.key"
    key_file.write_text(f"{identity}\n")
    bin_enc = _best(
        "age binary encrypt, X25519",
        size,
        1,
        lambda: _run([age_bin, "-r", str(recipient), "-o", str(age_file), str(plain)]),
        functools.partial(_fresh, age_file, plain),
    )
    bin_dec = _best(
        "age binary decrypt",
        size,
        1,
        lambda: _run([age_bin, "-d", "-i", str(key_file), "-o", str(out), str(age_file)]),
        functools.partial(_fresh, out, age_file),
    )
    age_file.unlink()
    out.unlink()
    return ToolResults(gpg_enc, gpg_dec, age_enc, age_dec, bin_enc, bin_dec)


# --- HPKE --------------------------------------------------------------------------------


def _per_op_us(fn: Callable[[], object], count: int = 2000, repeats: int = 5) -> float:
    # CPU time of this process: steadier than wall time on a shared machine.
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(count):
            fn()
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def _hpke_section() -> list[tuple[str, float, float]]:
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric import mlkem

    payload_key, info = os.urandom(32), b"cix bench key access"
    raw_keys: dict[KemAlgorithm, tuple[Any, Any, hpke.KEM]] = {}
    sk = x25519.X25519PrivateKey.generate()
    raw_keys[KemAlgorithm.X25519] = (sk, sk.public_key(), hpke.KEM.X25519)
    hybrid = hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    )
    raw_keys[KemAlgorithm.MLKEM768_X25519] = (hybrid, hybrid.public_key(), hpke.KEM.MLKEM768_X25519)
    out = []
    for algorithm, target in ((KemAlgorithm.X25519, 50.0), (KemAlgorithm.MLKEM768_X25519, 100.0)):
        key = generate_kem(algorithm)
        wrapped = key.public.wrap(payload_key, info)
        if key.unwrap(wrapped, info) != payload_key:
            raise SystemExit(f"{algorithm}: unwrap did not give back the key")
        wrap_us = _per_op_us(functools.partial(key.public.wrap, payload_key, info))
        unwrap_us = _per_op_us(functools.partial(key.unwrap, wrapped, info))
        raw_sk, raw_pk, kem = raw_keys[algorithm]
        suite = hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
        raw_ct = suite.encrypt(payload_key, raw_pk, info=info)
        raw_wrap = _per_op_us(functools.partial(suite.encrypt, payload_key, raw_pk, info=info))
        raw_unwrap = _per_op_us(functools.partial(suite.decrypt, raw_ct, raw_sk, info=info))
        print(
            f"  {algorithm.value:<16} cix wrap {wrap_us:6.1f} us, unwrap {unwrap_us:6.1f} us"
            f"   (cryptography's HPKE alone: {raw_wrap:6.1f} us, {raw_unwrap:6.1f} us)",
            flush=True,
        )
        out.append((f"{algorithm.value} unwrap, us", unwrap_us, target))
    return out


# --- report ------------------------------------------------------------------------------


def _ratios(label: str, cix: Result, baseline: Result, target: float) -> None:
    """Print cix/baseline throughput, by wall time and by CPU time, against `target`."""
    wall = cix.gbps / baseline.gbps
    cpu = cix.cpu_gbps / baseline.cpu_gbps
    verdict = "ok" if wall >= target else ("ok by cpu" if cpu >= target else "MISSED")
    print(f"  {label:<48} {wall:8.2f} wall {cpu:8.2f} cpu   target >= {target:g}   {verdict}")


def _ratio(label: str, value: float, target: float, *, lower_is_better: bool = False) -> None:
    ok = value <= target if lower_is_better else value >= target
    sign = "<=" if lower_is_better else ">="
    print(f"  {label:<48} {value:8.2f}   target {sign} {target:g}   {'ok' if ok else 'MISSED'}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


PARTS = ("memory", "files", "tools", "hpke")


def _arguments(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m bench.envelope", description=__doc__)
    parser.add_argument(
        "--size",
        type=_parse_size,
        default=_parse_size(env("CIX_BENCH_ENVELOPE_SIZE", "1G")),
        help="payload size, e.g. 1G or 256M (CIX_BENCH_ENVELOPE_SIZE; default 1G)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(env("CIX_BENCH_ENVELOPE_ROUNDS", "9")),
        help="interleaved rounds of cp, seal and open file to file, after one warm-up round"
        " (CIX_BENCH_ENVELOPE_ROUNDS; default 9)",
    )
    parser.add_argument(
        "--parts",
        default=env("CIX_BENCH_ENVELOPE_PARTS", ",".join(PARTS)),
        help=f"comma-separated, of {', '.join(PARTS)} (CIX_BENCH_ENVELOPE_PARTS; default all)",
    )
    args = parser.parse_args(argv)
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if unknown := args.parts - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the envelope benchmark once (the parts asked for) and print results and ratios."""
    args = _arguments(argv if argv is not None else [])
    size, parts = args.size, args.parts
    print(
        f"size {size / GiB:.3f} GiB, cix segment {DEFAULT_SEGMENT_SIZE} bytes; cpu {_cpu_model()};"
        f" nproc {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}; parts"
        f" {','.join(p for p in PARTS if p in parts)}",
        flush=True,
    )
    keys = Keys(generate_kem(KemAlgorithm.MLKEM768_X25519), generate_signing())
    block = os.urandom(min(size, 64 * MiB))
    # bytes, not a memoryview: BytesIO shares a bytes object but copies anything else
    data = (block * -(-size // max(len(block), 1)))[:size]

    mem = None
    if "memory" in parts:
        print("\nIn memory (memoryview or BytesIO source, discarding sink):", flush=True)
        raw_enc, raw_dec = _raw_section(memoryview(data), DEFAULT_SEGMENT_SIZE)
        mem = (raw_enc, raw_dec, *_memory_section(data, keys))

    cp = cix_seal = cix_open = None
    tools = None
    with _workdir() as work:
        if "files" in parts:
            print(
                f"\nFile to file, {args.rounds} interleaved rounds after a warm-up (input in the"
                " page cache, no fsync; before each run, untimed: sync, output removed, input"
                " read through):",
                flush=True,
            )
            cp, cix_seal, cix_open = (
                r.median() for r in _file_rounds(data, keys, work, args.rounds)
            )
        if "tools" in parts:
            print("\nFile to file, other tools (one run each):", flush=True)
            tools = _tools_section(data, work)

    hpke_results = []
    if "hpke" in parts:
        print(
            "\nHPKE payload-key wrap/unwrap (CPU time per operation, best of 5 x 2000):",
            flush=True,
        )
        hpke_results = _hpke_section()

    print("\nRatios (file to file: of the median runs):")
    if mem is not None:
        raw_enc, raw_dec, mem_seal, mem_open, mem_age_enc, mem_age_dec = mem
        _ratios("seal in memory / raw AES-GCM encrypt", mem_seal, raw_enc, 0.70)
        _ratios("open in memory / raw AES-GCM decrypt", mem_open, raw_dec, 0.70)
        _ratios("seal in memory / age (pyrage) in memory", mem_seal, mem_age_enc, 5.0)
        _ratios("open in memory / age (pyrage) in memory", mem_open, mem_age_dec, 5.0)
    if cp is not None and cix_seal is not None and cix_open is not None:
        _ratios("seal file to file / cp", cix_seal, cp, 0.70)
        _ratios("open file to file / cp", cix_open, cp, 0.70)
        if tools is not None:
            _ratios("seal / gpg encrypt (file to file)", cix_seal, tools.gpg_enc, 5.0)
            _ratios("open / gpg decrypt (file to file)", cix_open, tools.gpg_dec, 5.0)
            _ratios("seal / age (pyrage) encrypt", cix_seal, tools.age_enc, 5.0)
            _ratios("open / age (pyrage) decrypt", cix_open, tools.age_dec, 5.0)
            if tools.age_bin_enc is not None and tools.age_bin_dec is not None:
                _ratios("seal / age binary encrypt", cix_seal, tools.age_bin_enc, 5.0)
                _ratios("open / age binary decrypt", cix_open, tools.age_bin_dec, 5.0)
    for label, value, target in hpke_results:
        _ratio(label, value, target, lower_is_better=True)


if __name__ == "__main__":
    main(sys.argv[1:])
