"""The ZIP profile of a sealed object: a streaming writer and a strict reader.

Writer: members are STORED; a streamed member has a data descriptor (general purpose bit 3)
and, when it may reach 4 GiB, a ZIP64 extra field and an 8-byte data descriptor; times are
fixed at 1980-01-01 00:00 so that equal inputs give equal bytes. The writer never seeks:
it counts the bytes it writes.

Reader: strict. Every byte of an archive is a member's data (authenticated by the
envelope) or a header field that is checked: each local header and data descriptor must
agree with the central directory (version, flags, method, time, date, CRC, sizes, name),
members, central directory and end record must follow one another with no gap, and there
are no comments and no extra fields but ZIP64's. It rejects multi-disk archives,
encryption, unsafe or duplicate names. The fields only the central directory holds
(version made by, file attributes) cannot be compared with anything: `Member.cix_profile`
says whether they are the cix writer's, which a labelled (cix-written) object must be. The
payload's CRC-32 is not computed (AES-GCM authenticates every payload byte) but must agree
between the central directory and the data descriptor; the manifest's is checked.
"""

from __future__ import annotations

import io
import mmap
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from cix.envelope._fileio import MappedWindows, Sink, write_all
from cix.envelope.errors import ContainerError
from cix.errors import InputError

try:  # isal's CRC-32 is the same function, 5-6x faster than zlib's (PCLMUL); see format.md
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    _crc32 = zlib.crc32

crc32: Callable[[bytes | bytearray | memoryview, int], int] = _crc32

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_DESCRIPTOR = b"PK\x07\x08"
_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_LOCATOR = b"PK\x06\x07"
_U32 = 0xFFFFFFFF
_U16 = 0xFFFF
_DOS_DATE = 0x0021  # 1980-01-01
_DOS_TIME = 0
_FLAG_DESCRIPTOR = 0x0008
_MADE_BY = (3 << 8) | 45  # UNIX, version 4.5
_EXTERNAL = 0o100644 << 16
_MAX_MEMBERS = 16
_MAX_CENTRAL = 1 << 20
_MAX_NAME = 1024
#: The central-only fields and the time the cix writer sets: version made by, internal and
#: external attributes, time, date.
_PROFILE = (_MADE_BY, 0, _EXTERNAL, _DOS_TIME, _DOS_DATE)


@dataclass
class _Entry:
    name: bytes
    flags: int
    crc: int
    size: int
    offset: int
    version: int = 20
    """The version needed to extract, the same in the local header and the central entry."""


class ZipStreamWriter:
    """Writes a ZIP to a forward-only stream: streamed members, then small ones, then the
    central directory."""

    def __init__(self, dst: Sink) -> None:
        """Start an empty archive on `dst` (written from its current position as offset 0)."""
        self._dst = dst
        self._pos = 0
        self._entries: list[_Entry] = []
        self._open: _Entry | None = None
        self._zip64_open = False

    def _put(self, data: bytes | bytearray | memoryview) -> None:
        write_all(self._dst, data)
        self._pos += len(data)

    def begin(self, name: str, *, zip64: bool) -> None:
        """Open a streamed member; its CRC and size go in a data descriptor after the data."""
        assert self._open is None
        raw = name.encode("ascii")
        entry = _Entry(raw, _FLAG_DESCRIPTOR, 0, 0, self._pos, 45 if zip64 else 20)
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if zip64 else b""
        sizes = _U32 if zip64 else 0
        self._put(
            _LOCAL
            + struct.pack(
                "<HHHHHIIIHH",
                entry.version,
                _FLAG_DESCRIPTOR,
                0,
                _DOS_TIME,
                _DOS_DATE,
                0,
                sizes,
                sizes,
                len(raw),
                len(extra),
            )
            + raw
            + extra
        )
        self._open, self._zip64_open = entry, zip64

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append data to the open streamed member."""
        entry = self._open
        assert entry is not None
        entry.crc = crc32(data, entry.crc)
        entry.size += len(data)
        write_all(self._dst, data)
        self._pos += len(data)

    def end(self) -> int:
        """Close the streamed member with its data descriptor; return the member's size."""
        entry = self._open
        assert entry is not None
        if self._zip64_open:
            self._put(_DESCRIPTOR + struct.pack("<IQQ", entry.crc, entry.size, entry.size))
        else:
            if entry.size > _U32 - 1:
                raise ContainerError(
                    "the payload grew past 4 GiB although its size was given as smaller"
                )
            self._put(_DESCRIPTOR + struct.pack("<III", entry.crc, entry.size, entry.size))
        self._entries.append(entry)
        self._open = None
        return entry.size

    def add(self, name: str, data: bytes) -> None:
        """Add a complete member whose bytes are known (the manifest)."""
        assert self._open is None
        raw = name.encode("ascii")
        # Past 4 GiB the central entry needs a ZIP64 offset, hence version 4.5: the local
        # header says the same, as the strict reader requires of every field it repeats.
        version = 45 if self._pos >= _U32 else 20
        entry = _Entry(raw, 0, crc32(data, 0), len(data), self._pos, version)
        self._put(
            _LOCAL
            + struct.pack(
                "<HHHHHIIIHH",
                entry.version,
                0,
                0,
                _DOS_TIME,
                _DOS_DATE,
                entry.crc,
                entry.size,
                entry.size,
                len(raw),
                0,
            )
            + raw
        )
        self._put(data)
        self._entries.append(entry)

    def close(self) -> int:
        """Write the central directory and end records; return the archive's total size."""
        assert self._open is None
        cd_start = self._pos
        for e in self._entries:
            big: list[int] = []
            size32 = e.size
            offset32 = e.offset
            if e.size >= _U32:
                big += [e.size, e.size]
                size32 = _U32
            if e.offset >= _U32:
                big.append(e.offset)
                offset32 = _U32
            extra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big) if big else b""
            self._put(
                _CENTRAL
                + struct.pack(
                    "<HHHHHHIIIHHHHHII",
                    _MADE_BY,
                    45 if big else e.version,
                    e.flags,
                    0,
                    _DOS_TIME,
                    _DOS_DATE,
                    e.crc,
                    size32,
                    size32,
                    len(e.name),
                    len(extra),
                    0,
                    0,
                    0,
                    _EXTERNAL,
                    offset32,
                )
                + e.name
                + extra
            )
        cd_size = self._pos - cd_start
        count = len(self._entries)
        if cd_start >= _U32 or cd_size >= _U32 or count >= _U16:
            eocd64 = self._pos
            self._put(
                _EOCD64
                + struct.pack("<QHHIIQQQQ", 44, _MADE_BY, 45, 0, 0, count, count, cd_size, cd_start)
            )
            self._put(_LOCATOR + struct.pack("<IQI", 0, eocd64, 1))
        self._put(
            _EOCD
            + struct.pack(
                "<HHHHIIH",
                0,
                0,
                min(count, _U16),
                min(count, _U16),
                min(cd_size, _U32),
                min(cd_start, _U32),
                0,
            )
        )
        return self._pos


@dataclass(frozen=True)
class Member:
    """One member of a read archive: where its data starts and how long it is."""

    name: str
    data_offset: int
    size: int
    method: int
    crc: int
    cix_profile: bool = True
    """Whether its central-only fields (version made by, attributes) and its time are the
    ones the cix writer sets."""


class ViewReader(io.RawIOBase):
    """A seekable read-only stream over a bytes-like object or a mapped file, exposing the
    view itself. `release_before` drops a mapping's pages before an offset from the process
    (nothing for other objects); `release` gives up the view (a mapping can then close)."""

    def __init__(self, data: bytes | bytearray | memoryview | mmap.mmap) -> None:
        self._windows = MappedWindows(data) if isinstance(data, mmap.mmap) else None
        self.view = memoryview(data).cast("B") if self._windows is None else self._windows.view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self.view))[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = len(self.view) if size is None or size < 0 else self._pos + size
        data = bytes(self.view[self._pos : end])
        self._pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        with self.view[self._pos : self._pos + len(b)] as chunk:
            n = len(chunk)
            memoryview(b).cast("B")[:n] = chunk
        self._pos += n
        return n

    def release_before(self, offset: int) -> None:
        """Drop a mapping's whole pages before `offset` from the process."""
        if self._windows is not None:
            self._windows.release_before(offset)

    def release(self) -> None:
        """Give up the view (after which a mapping can be closed)."""
        self.view.release()


def _read_at(src: BinaryIO, offset: int, n: int, what: str) -> bytes:
    if isinstance(src, ViewReader):
        # In memory (every open of a small document): a slice, not a seek and a read
        # through Python methods. The same bytes (a seek clamps at 0, so does this).
        start = max(0, offset)
        data = bytes(src.view[start : start + n])
    else:
        src.seek(offset)
        data = src.read(n)
    if len(data) != n:
        raise ContainerError(f"not a valid ZIP: {what} is cut short")
    return data


def _check_name(name: str) -> None:
    bad = (
        name.startswith(("/", "\\"))
        or "\\" in name
        or "\x00" in name
        or (len(name) > 1 and name[1] == ":")
        or any(part in ("..", ".") for part in name.split("/"))
    )
    if bad:
        raise ContainerError(f"unsafe member name {name!r} in the ZIP (path traversal)")


def read_members(src: BinaryIO, expected: frozenset[str]) -> dict[str, Member]:
    """Read the central directory of a seekable ZIP and return exactly the `expected` members.

    Raises `ContainerError` naming the problem: not a ZIP, a multi-disk archive, an unsafe,
    duplicate, unexpected or missing member, encryption, or members that overlap.
    """
    try:
        total = src.seek(0, 2)
    except (OSError, ValueError):
        raise InputError("a sealed object must be read from a seekable file or buffer") from None
    if total < 22:
        raise ContainerError("not a ZIP: too short to hold an end of central directory")
    # The end record is the last 22 bytes: a sealed object has no archive comment (a
    # comment's bytes would be neither authenticated nor checked).
    tail = _read_at(src, total - 22, 22, "the end record")
    pos = 0
    if not tail.startswith(_EOCD):
        raise ContainerError("not a ZIP: no end of central directory record at its end")
    if struct.unpack_from("<H", tail, 20)[0] != 0:
        raise ContainerError("not a valid ZIP for a sealed object: the archive has a comment")
    eocd_at = total - 22
    disk, cd_disk, n_disk, count, cd_size, cd_start, _ = struct.unpack_from(
        "<HHHHIIH", tail, pos + 4
    )
    end_of_cd = eocd_at
    if _U16 in (n_disk, count) or _U32 in (cd_size, cd_start):
        if eocd_at < 20:
            raise ContainerError("not a valid ZIP: ZIP64 locator missing")
        loc = _read_at(src, eocd_at - 20, 20, "the ZIP64 locator")
        if loc[:4] != _LOCATOR:
            raise ContainerError("not a valid ZIP: ZIP64 locator missing")
        loc_disk, eocd64_at, disks = struct.unpack_from("<IQI", loc, 4)
        if eocd64_at != eocd_at - 20 - 56 or loc_disk != 0 or disks != 1:
            raise ContainerError("not a valid ZIP: ZIP64 end record out of place")
        rec = _read_at(src, eocd64_at, 56, "the ZIP64 end record")
        if rec[:4] != _EOCD64:
            raise ContainerError("not a valid ZIP: ZIP64 end record missing")
        rec_size, _, needed, disk, cd_disk, n_disk, count, cd_size, cd_start = struct.unpack_from(
            "<QHHIIQQQQ", rec, 4
        )
        if rec_size != 44 or needed != 45:
            raise ContainerError("not a valid ZIP: damaged ZIP64 end record")
        end_of_cd = eocd64_at
    if disk != 0 or cd_disk != 0 or n_disk != count:
        raise ContainerError("multi-disk ZIP archives are not supported")
    if count > _MAX_MEMBERS or cd_size > _MAX_CENTRAL:
        raise ContainerError(f"the ZIP has too many members ({count}) for a sealed object")
    if cd_start + cd_size != end_of_cd:
        raise ContainerError("not a valid ZIP: the central directory does not meet its end record")
    cd = _read_at(src, cd_start, cd_size, "the central directory")
    members: dict[str, Member] = {}
    at = 0
    spans: list[tuple[int, int, str]] = []
    for _ in range(count):
        if cd[at : at + 4] != _CENTRAL or at + 46 > len(cd):
            raise ContainerError("not a valid ZIP: damaged central directory")
        made_by, version, flags, method, time, date, crc, csize, usize = struct.unpack_from(
            "<HHHHHHIII", cd, at + 4
        )
        n_len, x_len, c_len, start_disk, internal, external, local_at = struct.unpack_from(
            "<HHHHHII", cd, at + 28
        )
        raw_name = cd[at + 46 : at + 46 + n_len]
        extra = cd[at + 46 + n_len : at + 46 + n_len + x_len]
        at += 46 + n_len + x_len + c_len
        if at > len(cd) or n_len > _MAX_NAME:
            raise ContainerError("not a valid ZIP: damaged central directory")
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        _check_name(name)
        if name in members:
            raise ContainerError(f"duplicate member {name!r} in the ZIP")
        if name not in expected:
            raise ContainerError(
                f"unexpected member {name!r} in the ZIP (a sealed object "
                f"holds only {', '.join(sorted(expected))})"
            )
        if flags & 0x1:
            raise ContainerError(f"member {name!r} uses ZIP encryption, which is not supported")
        if c_len or start_disk:
            raise ContainerError(f"not a valid ZIP: {name!r} has a comment or a start disk")
        csize, usize, local_at = _zip64(extra, csize, usize, local_at, name)
        if method not in (0, 8):
            raise ContainerError(f"member {name!r} uses unsupported compression method {method}")
        if method == 0 and csize != usize:
            raise ContainerError(f"not a valid ZIP: stored member {name!r} has two sizes")
        central = (version, flags, method, time, date)
        start, end = _check_local(src, local_at, raw_name, central, crc, csize, usize, name)
        if end > cd_start:
            raise ContainerError(f"not a valid ZIP: member {name!r} overruns the central directory")
        spans.append((local_at, end, name))
        profile = (made_by, internal, external, time, date) == _PROFILE
        members[name] = Member(name, start, csize, method, crc, profile)
    spans.sort()
    previous_end, previous = 0, "the start of the archive"
    for begin, end, name in spans:
        if begin != previous_end:
            raise ContainerError(
                f"not a valid ZIP: {previous} and member {name!r} do not meet (a gap or overlap)"
            )
        previous_end, previous = end, f"member {name!r}"
    if spans and previous_end != cd_start:
        raise ContainerError("not a valid ZIP: the members do not meet the central directory")
    for name in sorted(expected - members.keys()):
        raise ContainerError(f"the ZIP has no member {name!r}")
    return members


def _check_local(
    src: BinaryIO,
    local_at: int,
    raw_name: bytes,
    central: tuple[int, int, int, int, int],
    crc: int,
    csize: int,
    usize: int,
    name: str,
) -> tuple[int, int]:
    """Check the local header (and data descriptor) of a member against its central entry;
    return where its data starts and where the member (descriptor included) ends."""
    header = _read_at(src, local_at, 30, f"the local header of {name!r}")
    if header[:4] != _LOCAL:
        raise ContainerError(f"not a valid ZIP: local header of {name!r} missing")
    *fields, l_crc, l_csize, l_usize, ln, lx = struct.unpack_from("<HHHHHIIIHH", header, 4)
    if tuple(fields) != central:
        raise ContainerError(
            f"not a valid ZIP: the local header of {name!r} disagrees with the central "
            "directory (version, flags, method, time or date)"
        )
    if _read_at(src, local_at + 30, ln, f"the name of {name!r}") != raw_name:
        raise ContainerError(f"not a valid ZIP: local and central names of {name!r} differ")
    extra = _read_at(src, local_at + 30 + ln, lx, f"the local extra field of {name!r}")
    zip64 = (l_csize, l_usize) == (_U32, _U32)
    if zip64:
        if len(extra) != 20 or struct.unpack_from("<HH", extra) != (1, 16):
            raise ContainerError(f"not a valid ZIP: the local ZIP64 field of {name!r} is wrong")
        l_usize, l_csize = struct.unpack_from("<QQ", extra, 4)
    elif extra:
        raise ContainerError(f"not a valid ZIP: the local header of {name!r} has extra fields")
    start = local_at + 30 + ln + lx
    end = start + csize
    if central[1] & _FLAG_DESCRIPTOR:
        # CRC and sizes follow the data; the local header holds zeros.
        if (l_crc, l_csize, l_usize) != (0, 0, 0):
            raise ContainerError(f"not a valid ZIP: the local header of {name!r} is not zeroed")
        fmt = "<4sIQQ" if zip64 else "<4sIII"
        size = struct.calcsize(fmt)
        found = struct.unpack(fmt, _read_at(src, end, size, f"the data descriptor of {name!r}"))
        if found != (_DESCRIPTOR, crc, csize, usize):
            raise ContainerError(
                f"not a valid ZIP: the data descriptor of {name!r} disagrees with the central "
                "directory"
            )
        end += size
    elif (l_crc, l_csize, l_usize) != (crc, csize, usize):
        raise ContainerError(
            f"not a valid ZIP: the local CRC or sizes of {name!r} disagree with the central "
            "directory"
        )
    return start, end


def _zip64(extra: bytes, csize: int, usize: int, offset: int, name: str) -> tuple[int, int, int]:
    if not extra:
        if _U32 in (csize, usize, offset):
            raise ContainerError(f"not a valid ZIP: {name!r} needs a ZIP64 field it lacks")
        return csize, usize, offset
    tag, length = struct.unpack_from("<HH", extra) if len(extra) >= 4 else (0, 0)
    wanted = [v for v in (usize, csize, offset) if v == _U32]
    if tag != 1 or length != 8 * len(wanted) or len(extra) != 4 + length or not wanted:
        raise ContainerError(f"not a valid ZIP: {name!r} has an extra field other than ZIP64's")
    values = list(struct.unpack_from(f"<{len(wanted)}Q", extra, 4))
    if usize == _U32:
        usize = values.pop(0)
    if csize == _U32:
        csize = values.pop(0)
    if offset == _U32:
        offset = values.pop(0)
    return csize, usize, offset


def read_small_member(
    src: BinaryIO, member: Member, limit: int, *, check_crc: bool = True
) -> bytes:
    """Read a whole small member (the manifest), inflating it if needed and checking its CRC
    (unless the caller checks the bytes more strongly itself: `check_crc=False`)."""
    if member.size > limit:
        raise ContainerError(f"member {member.name!r} is larger than {limit} bytes")
    data = _read_at(src, member.data_offset, member.size, f"member {member.name!r}")
    if member.method == 8:
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(data, limit + 1)
        except zlib.error:
            raise ContainerError(f"member {member.name!r} does not inflate") from None
        if len(data) > limit or not inflater.eof:
            raise ContainerError(f"member {member.name!r} does not inflate within {limit} bytes")
    if check_crc and crc32(data, 0) != member.crc:
        raise ContainerError(f"member {member.name!r} fails its CRC-32 check")
    return data
