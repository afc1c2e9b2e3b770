"""Sealed-object speed: cix seal/open against raw AES-256-GCM, `cp`, gpg and age.

Run: `.venv/bin/python -m bench envelope` (1 GiB), or another size with
`CIX_BENCH_ENVELOPE_SIZE=256M .venv/bin/python -m bench envelope`
(or `.venv/bin/python -m bench.envelope --size 256M`).

Every number is measured in the same run on the same data, and every target of DESIGN.md is
printed as a ratio against its baseline:

- in memory (a memoryview source, which the envelope reads by zero-copy slices, and a sink
  that discards; a BytesIO source is shown too): cix >= 70% of raw AES-256-GCM of the same
  library on the same buffer in the same segment size (the faster of `encrypt` and
  `encrypt_into` a reused buffer);
- file to file: cix >= 70% of `cp` of the same file (input in the page cache, no fsync
  inside any timed run; before each run, untimed, its output is removed and `sync` flushes
  what earlier runs left dirty, so no tool pays for another's writeback);
- cix >= 5x `gpg --symmetric --cipher-algo AES256 --compress-algo none` and >= 5x age
  (pyrage, and the Debian `age` binary where installed);
- HPKE unwrap of a payload key: X25519 <= 50 us, ML-KEM-768+X25519 <= 100 us.
"""

from __future__ import annotations

import functools
import io
import mmap
import os
import resource
import shutil
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

from cix.envelope import DEFAULT_SEGMENT_SIZE, mapped_input, open_sealed, seal
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


def _size_from(argv: list[str]) -> int:
    if "--size" in argv:
        return _parse_size(argv[argv.index("--size") + 1])
    return _parse_size(os.environ.get("CIX_BENCH_ENVELOPE_SIZE", "1G"))


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
    open_sealed(src, dst, private_key=keys.recipient, trusted_signers=[keys.signer.public])


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
class FileResults:
    """File-to-file results of cix and of every baseline tool."""

    cp: Result
    seal: Result
    open: Result
    gpg_enc: Result
    gpg_dec: Result
    age_enc: Result
    age_dec: Result
    age_bin_enc: Result | None
    age_bin_dec: Result | None


def _file_section(data: bytes, keys: Keys, work: Path) -> FileResults:
    size = len(data)
    plain, copy, sealed, out = (work / n for n in ("in.bin", "cp.bin", "in.cix", "out.bin"))
    plain.write_bytes(data)

    def fresh(*outputs: Path) -> Callable[[], None]:
        # Each run starts alike, untimed: its output absent (no truncation of a previous
        # run's file) and no dirty pages left by the previous run to throttle its writes.
        def reset() -> None:
            for output in outputs:
                output.unlink(missing_ok=True)
            os.sync()

        return reset

    cp = _best("cp", size, 3, lambda: _run(["cp", str(plain), str(copy)]), fresh(copy))
    copy.unlink()
    cix_seal = _best("cix seal", size, 3, lambda: _seal_file(plain, sealed, keys), fresh(sealed))
    cix_open = _best("cix open", size, 3, lambda: _open_file(sealed, out, keys), fresh(out))
    if out.read_bytes() != data:
        raise SystemExit("cix open did not give back the input: the benchmark is void")
    sealed.unlink()
    out.unlink()

    home = work / "gnupg"
    home.mkdir(mode=0o700)
    gpg_file = work / "in.gpg"
    symmetric = ("--symmetric", "--cipher-algo", "AES256", "--compress-algo", "none")
    gpg_enc = _best(
        "gpg --symmetric AES256, no compression",
        size,
        1,
        lambda: _run(_gpg(home, *symmetric, "-o", str(gpg_file), str(plain))),
        os.sync,
    )
    gpg_dec = _best(
        "gpg --decrypt",
        size,
        1,
        lambda: _run(_gpg(home, "-o", str(out), "--decrypt", str(gpg_file))),
        os.sync,
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
        os.sync,
    )
    age_dec = _best(
        "age (pyrage) decrypt",
        size,
        1,
        lambda: pyrage.decrypt_file(str(age_file), str(out), [identity]),
        os.sync,
    )
    age_file.unlink()
    out.unlink()

    age_bin = shutil.which("age")
    if age_bin is None:
        print("  age binary: skipped, not installed (Debian: apt-get install -y age)")
        return FileResults(cp, cix_seal, cix_open, gpg_enc, gpg_dec, age_enc, age_dec, None, None)
    key_file = work / "age.key"
    key_file.write_text(f"{identity}\n")
    bin_enc = _best(
        "age binary encrypt, X25519",
        size,
        1,
        lambda: _run([age_bin, "-r", str(recipient), "-o", str(age_file), str(plain)]),
        os.sync,
    )
    bin_dec = _best(
        "age binary decrypt",
        size,
        1,
        lambda: _run([age_bin, "-d", "-i", str(key_file), "-o", str(out), str(age_file)]),
        os.sync,
    )
    return FileResults(cp, cix_seal, cix_open, gpg_enc, gpg_dec, age_enc, age_dec, bin_enc, bin_dec)


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


def main(argv: list[str] | None = None) -> None:
    """Run the whole envelope benchmark once and print results and ratios."""
    size = _size_from(argv if argv is not None else [])
    print(
        f"size {size / GiB:.3f} GiB, cix segment {DEFAULT_SEGMENT_SIZE} bytes; cpu {_cpu_model()};"
        f" nproc {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    keys = Keys(generate_kem(KemAlgorithm.MLKEM768_X25519), generate_signing())
    block = os.urandom(min(size, 64 * MiB))
    # bytes, not a memoryview: BytesIO shares a bytes object but copies anything else
    data = (block * -(-size // max(len(block), 1)))[:size]

    print("\nIn memory (memoryview or BytesIO source, discarding sink):", flush=True)
    raw_enc, raw_dec = _raw_section(memoryview(data), DEFAULT_SEGMENT_SIZE)
    mem_seal, mem_open, mem_age_enc, mem_age_dec = _memory_section(data, keys)

    print("\nFile to file (page cache warm, no fsync):", flush=True)
    with _workdir() as work:
        files = _file_section(data, keys, work)

    print("\nHPKE payload-key wrap/unwrap (CPU time per operation, best of 5 x 2000):", flush=True)
    hpke_results = _hpke_section()

    print("\nRatios:")
    _ratios("seal in memory / raw AES-GCM encrypt", mem_seal, raw_enc, 0.70)
    _ratios("open in memory / raw AES-GCM decrypt", mem_open, raw_dec, 0.70)
    _ratios("seal in memory / age (pyrage) in memory", mem_seal, mem_age_enc, 5.0)
    _ratios("open in memory / age (pyrage) in memory", mem_open, mem_age_dec, 5.0)
    _ratios("seal file to file / cp", files.seal, files.cp, 0.70)
    _ratios("open file to file / cp", files.open, files.cp, 0.70)
    _ratios("seal / gpg encrypt (file to file)", files.seal, files.gpg_enc, 5.0)
    _ratios("open / gpg decrypt (file to file)", files.open, files.gpg_dec, 5.0)
    _ratios("seal / age (pyrage) encrypt", files.seal, files.age_enc, 5.0)
    _ratios("open / age (pyrage) decrypt", files.open, files.age_dec, 5.0)
    if files.age_bin_enc is not None and files.age_bin_dec is not None:
        _ratios("seal / age binary encrypt", files.seal, files.age_bin_enc, 5.0)
        _ratios("open / age binary decrypt", files.open, files.age_bin_dec, 5.0)
    for label, value, target in hpke_results:
        _ratio(label, value, target, lower_is_better=True)


if __name__ == "__main__":
    main(sys.argv[1:])
