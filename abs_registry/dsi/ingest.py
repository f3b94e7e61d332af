"""Reading sequence files: FASTA or GenBank, plain or gzip, checked and fingerprinted as they stream.

Nothing here reads a whole file into memory: the upload is read in 64 KiB chunks (counted,
hashed and held to the size limit as they pass), decompressed on the fly, decoded as UTF-8
text and handed line by line to Biopython. Only one record is in memory at a time.

What a sequence may contain (a decision, documented here and in the refusals):

- DNA: the IUPAC nucleotide codes A C G T R Y S W K M B D H V N, in either case.
- RNA: the same with U for T. A file that writes an RNA in DNA letters (GenBank writes
  mRNA with T; a cDNA export does) is read as that RNA: T becomes U before fingerprinting, so
  one RNA has one fingerprint however it was written. A sequence mixing T and U is refused.
- protein: the 20 amino acids, plus B Z J X (ambiguity), U (selenocysteine), O (pyrrolysine).
- Gaps ("-", ".") and stops ("*") are refused: they belong to an alignment or a translation,
  not to the sequence, and would give the same sequence a different fingerprint.

A sequence is normalized to upper case without whitespace; its SHA-256 and its SEGUID (the
base64 SHA-1 of the same letters, as Biopython's ``Bio.SeqUtils.CheckSum.seguid``) are
taken of that normalized text.

Every refusal is a ValidationError on the field ``file`` naming the file, the record and the
line: ``sample.fa, record seq7, line 1203: character 'J' is not valid in DNA``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from Bio import SeqIO
from Bio.Seq import UndefinedSequenceError
from Bio.SeqIO.FastaIO import SimpleFastaParser

from abs_registry.declarations.models import MoleculeType
from abs_registry.dsi.models import SequenceFormat
from abs_registry.errors import ValidationError
from abs_registry.i18n_marker import N_

CHUNK = 64 * 1024
MB = 1024 * 1024
SNIFF_BYTES = 4096
IDENTIFIER_MAX = 200
GENBANK_LINE_WIDTH = 60  # residues per ORIGIN line in every GenBank flat file

NUCLEOTIDE_CODES = b"ACGTRYSWKMBDHVN"
# What each molecule type may contain, upper case (the check runs after upper-casing).
ALPHABET = {
    MoleculeType.DNA: NUCLEOTIDE_CODES,
    MoleculeType.RNA: NUCLEOTIDE_CODES + b"U",  # T is accepted and transcribed, see above
    MoleculeType.PROTEIN: b"ACDEFGHIKLMNPQRSTVWY" + b"BZJXUO",
}
MOLECULE_NAME = {MoleculeType.DNA: "DNA", MoleculeType.RNA: "RNA",
                 MoleculeType.PROTEIN: "protein"}
# Archive and image formats people mistake for sequence files: named as binary, not as text.
BINARY_SIGNATURES = (b"BZh", b"PK\x03\x04", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd", b"%PDF",
                     b"\x89PNG", b"\xff\xd8\xff", b"BAM\x01")
# Undecodable bytes (read as lone surrogates) and NUL: binary data, and unstorable anyway.
NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
INSDC_ACCESSION = re.compile(r"^[A-Z]{1,6}_?\d{5,12}(?:\.\d+)?\Z")
# Where FASTA titles name the organism: NCBI submission modifiers, UniProt's OS= field.
ORGANISM = (re.compile(r"\[organism=([^\]]+)\]"), re.compile(r"\bOS=(.+?)(?= [A-Z]{2}=|$)"))


@dataclass(frozen=True)
class Limits:
    """Bounds on one upload; they come from the settings (config.py)."""

    max_bytes: int = 512 * MB
    max_decompressed_bytes: int = 4096 * MB
    max_sequences: int = 1_000_000


@dataclass
class Sequence:
    """One checked, normalized record, ready to store."""

    identifier: str
    description: str
    line: int
    residues: bytes  # normalized: upper case ASCII, no whitespace
    source_organism: str | None = None
    accessions: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.residues).hexdigest()

    @property
    def seguid(self) -> str:
        return base64.b64encode(hashlib.sha1(self.residues).digest()).decode().rstrip("=")


def refuse(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


# --- the byte stream ---------------------------------------------------------------------------

class _Meter(io.RawIOBase):
    """Passes bytes through, counting them against a limit; optionally hashing them.

    The limit is checked as bytes arrive, so an oversized file is refused after reading one
    chunk past the limit, never after reading all of it.
    """

    def __init__(self, stream: BinaryIO, limit: int, on_limit: Callable[[], ValidationError],
                 digest=None, on_progress: Callable[[int], None] | None = None):
        self.stream, self.limit, self.on_limit = stream, limit, on_limit
        self.digest, self.on_progress = digest, on_progress
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(min(len(buffer), CHUNK))
        n = len(data)
        if n:
            self.count += n
            if self.count > self.limit:
                raise self.on_limit()
            if self.digest is not None:
                self.digest.update(data)
            if self.on_progress is not None:
                self.on_progress(n)
            buffer[:n] = data
        return n

    def drain(self) -> None:
        """Read what is left (trailing bytes after the last record), so the hash is the file's."""
        while self.readinto(bytearray(CHUNK)):
            pass


@dataclass
class Opened:
    """An upload opened for reading: its text, what it is, and its meter (size, SHA-256)."""

    text: io.TextIOWrapper
    format: SequenceFormat
    gzipped: bool
    meter: _Meter

    @property
    def size(self) -> int:
        return self.meter.count

    @property
    def sha256(self) -> str:
        return self.meter.digest.hexdigest()


def open_upload(stream: BinaryIO, filename: str, limits: Limits,
                on_progress: Callable[[int], None] | None = None) -> Opened:
    """Open the upload as text, deciding its format from its first bytes, not its name."""
    meter = _Meter(stream, limits.max_bytes, lambda: refuse(
        N_("%(file)s: the file is larger than %(limit)s MB")
        % {"file": filename, "limit": limits.max_bytes // MB}),
        digest=hashlib.sha256(), on_progress=on_progress)
    raw = io.BufferedReader(meter, CHUNK)
    gzipped = raw.peek(2)[:2] == b"\x1f\x8b"
    body: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
    inflated = io.BufferedReader(_Meter(body, limits.max_decompressed_bytes, lambda: refuse(
        N_("%(file)s: the decompressed file is larger than %(limit)s MB")
        % {"file": filename, "limit": limits.max_decompressed_bytes // MB})), CHUNK)
    try:
        head = inflated.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except (EOFError, OSError, zlib.error) as exc:
        raise _damaged_gzip(filename, 1) from exc
    fmt = sniff(head, filename)
    # newline=None: \r\n and \r line ends read as \n, so Windows files parse alike.
    # Bytes that are not UTF-8 become lone surrogates instead of failing a whole chunk, so the
    # record checks can name the exact line they are on.
    text = io.TextIOWrapper(inflated, encoding="utf-8", errors="surrogateescape", newline=None)
    return Opened(text=text, format=fmt, gzipped=gzipped, meter=meter)


def sniff(head: bytes, filename: str) -> SequenceFormat:
    """FASTA starts with '>', GenBank with 'LOCUS' (after any blank lines); all else is refused."""
    if not head:
        raise refuse(N_("%(file)s: the file is empty") % {"file": filename})
    if b"\x00" in head or head.startswith(BINARY_SIGNATURES):
        raise refuse(N_("%(file)s: this is a binary file, not FASTA or GenBank text")
                     % {"file": filename})
    start = head.lstrip()
    if start.startswith(b">"):
        return SequenceFormat.FASTA
    if start.startswith(b"LOCUS"):
        return SequenceFormat.GENBANK
    if not start:
        raise refuse(N_("%(file)s: the file is empty") % {"file": filename})
    raise refuse(N_("%(file)s: not a FASTA or GenBank file (FASTA starts with '>', "
                    "GenBank with 'LOCUS')") % {"file": filename})


def _damaged_gzip(filename: str, line: int) -> ValidationError:
    return refuse(N_("%(file)s, line %(line)s: the gzip data is truncated or damaged")
                  % {"file": filename, "line": line})


# --- records -----------------------------------------------------------------------------------

class _FastaLines:
    """Feeds lines to Biopython's FASTA parser, noting where each record starts.

    SimpleFastaParser yields a record once it has read the next title (or the end), so the
    records whose titles were seen wait in a queue, oldest first: the one yielded is the
    head. The width of each sequence line is kept so that a bad residue's line is exact.
    """

    def __init__(self, text):
        self.text = text
        self.line = 0
        self.pending: deque[tuple[int, list[int]]] = deque()
        self.widths: list[int] = []
        # The parser loops over its handle twice (before and after the first title): both
        # loops must share one generator, or the second would start a fresh count.
        self._lines = self._generate()

    def __iter__(self):
        return self._lines

    def _generate(self):
        for line in self.text:
            self.line += 1
            if line[0] == ">":
                self.widths = []
                self.pending.append((self.line, self.widths))
            else:
                self.widths.append(len(line.rstrip()))
            yield line


class _GenBankLines:
    """A text handle for Biopython's GenBank scanner (it calls readline) that counts lines."""

    def __init__(self, text):
        self.text = text
        self.line = 0
        self.locus_line = 0
        self.origin_line = 0
        self.in_record = False  # read something since the last closing "//"

    def readline(self) -> str:
        line = self.text.readline()
        if line:
            self.line += 1
            if line.startswith("//"):
                self.in_record = False
            elif line.strip():
                self.in_record = True
                if line.startswith("LOCUS"):
                    self.locus_line = self.line
                elif line.startswith("ORIGIN"):
                    self.origin_line = self.line
        return line

    def read(self, size: int = -1) -> str:  # Biopython probes the mode with read(0)
        return "" if size == 0 else self.text.read(size)


@dataclass
class _Raw:
    """A record as read, before checking: residues still as the file wrote them."""

    identifier: str
    description: str
    line: int
    residues: str
    line_of: Callable[[int], int]  # line number of the residue at an offset
    source_organism: str | None = None
    accessions: list[str] = field(default_factory=list)


def _fasta(lines: _FastaLines | None, text, filename: str) -> Iterator[_Raw]:
    """FASTA records; with ``lines`` they know their line numbers, without they read faster."""
    for title, residues in SimpleFastaParser(text if lines is None else lines):
        header_line, widths = (0, []) if lines is None else lines.pending.popleft()
        identifier, _, description = title.partition(" ")
        if not identifier.strip():
            raise refuse(N_("%(file)s, line %(line)s: the record has no identifier")
                         % {"file": filename, "line": header_line})
        yield _Raw(identifier=identifier, description=description.strip(), line=header_line,
                   residues=residues, line_of=_fasta_line_of(header_line, widths),
                   source_organism=_organism_in(title),
                   accessions=[p for p in identifier.split("|") if INSDC_ACCESSION.match(p)])


def _fasta_line_of(header_line: int, widths: list[int]) -> Callable[[int], int]:
    def line_of(offset: int) -> int:
        for number, width in enumerate(widths, start=header_line + 1):
            if offset < width:
                return number
            offset -= width
        return header_line + len(widths)

    return line_of


def _organism_in(title: str) -> str | None:
    for pattern in ORGANISM:
        if found := pattern.search(title):
            return found.group(1).strip()[:300] or None
    return None


def _genbank(lines: _GenBankLines, filename: str) -> Iterator[_Raw]:
    records = SeqIO.parse(lines, "genbank")
    while True:
        try:
            record = next(records)
        except StopIteration:
            # Biopython ends quietly when the file stops inside a record: a cut-off file.
            if lines.in_record:
                raise refuse(N_("%(file)s, line %(line)s: the file ends inside the record "
                                "that starts at line %(start)s (truncated?)")
                             % {"file": filename, "line": lines.line,
                                "start": lines.locus_line}) from None
            return
        except ValueError as exc:
            reason = (str(exc).strip().splitlines() or ["?"])[0]
            raise refuse(N_("%(file)s, line %(line)s: not valid GenBank: %(reason)s")
                         % {"file": filename, "line": lines.line, "reason": reason}) from exc
        try:
            residues = str(record.seq)
        except UndefinedSequenceError:  # a CONTIG or WGS master record: no residues
            residues = ""
        origin = lines.origin_line if lines.origin_line > lines.locus_line else lines.line
        identifier = record.id if record.id and record.id != "<unknown id>" else record.name
        yield _Raw(identifier=identifier, description=record.description or "",
                   line=lines.locus_line, residues=residues,
                   line_of=lambda offset, origin=origin: origin + 1 + offset // GENBANK_LINE_WIDTH,
                   source_organism=(record.annotations.get("organism") or None),
                   accessions=_genbank_accessions(record))


def _genbank_accessions(record) -> list[str]:
    versioned = [record.id] if INSDC_ACCESSION.match(record.id or "") else []
    primary = {v.partition(".")[0] for v in versioned}
    others = [a for a in record.annotations.get("accessions", [])
              if INSDC_ACCESSION.match(a) and a not in primary]
    return versioned + others


def normalize(raw: _Raw, molecule: MoleculeType, filename: str) -> bytes:
    """The residues in upper case, checked against the molecule type's alphabet."""
    where = {"file": filename, "record": raw.identifier}
    try:
        letters = raw.residues.encode("ascii").upper()
    except UnicodeEncodeError as exc:
        raise _bad_residue(raw, where, exc.start, raw.residues[exc.start], molecule) from exc
    if not letters:
        raise refuse(N_("%(file)s, record %(record)s, line %(line)s: the sequence is empty")
                     % {**where, "line": raw.line})
    allowed = ALPHABET[molecule] + (b"T" if molecule is MoleculeType.RNA else b"")
    if stray := letters.translate(None, allowed):
        offset = letters.index(stray[:1])
        raise _bad_residue(raw, where, offset, raw.residues[offset], molecule)
    if molecule is MoleculeType.RNA and b"T" in letters:
        if b"U" in letters:
            offset = letters.index(b"T")
            raise refuse(N_("%(file)s, record %(record)s, line %(line)s: the sequence mixes T "
                            "and U") % {**where, "line": raw.line_of(offset)})
        letters = letters.replace(b"T", b"U")
    return letters


def _not_text(filename: str, line: int) -> ValidationError:
    return refuse(N_("%(file)s, line %(line)s: not text (binary data, or an encoding other "
                     "than UTF-8)") % {"file": filename, "line": line})


def _bad_residue(raw: _Raw, where: dict, offset: int, char: str,
                 molecule: MoleculeType) -> ValidationError:
    if NOT_TEXT.match(char):
        return _not_text(where["file"], raw.line_of(offset))
    return refuse(N_("%(file)s, record %(record)s, line %(line)s: character %(char)s is not "
                     "valid in %(molecule)s")
                  % {**where, "line": raw.line_of(offset), "char": repr(char),
                     "molecule": MOLECULE_NAME[molecule]})


def read_upload(stream: BinaryIO, filename: str, molecule: MoleculeType, limits: Limits,
                taken: Callable[[str], bool] = lambda identifier: False,
                on_progress: Callable[[int], None] | None = None,
                ) -> tuple[Opened, Iterator[Sequence]]:
    """Open an upload and iterate over its checked records, fast, yet with exact lines.

    Counting lines costs a Python call per line, a third of the FASTA reading time. So a
    stream that can be rewound is read without counting; if a record is refused, the stream
    is read again from the start counting lines, up to the same refusal, whose message then
    names the exact line. A stream that cannot be rewound is counted from the start.
    """
    seekable = stream.seekable()
    start = stream.tell() if seekable else 0
    opened = open_upload(stream, filename, limits, on_progress)

    def records() -> Iterator[Sequence]:
        try:
            yield from read_sequences(opened, molecule, filename, limits, taken,
                                      exact_lines=not seekable)
        except ValidationError:
            if not seekable:
                raise
            stream.seek(start)
            again = open_upload(stream, filename, limits)
            for _sequence in read_sequences(again, molecule, filename, limits, taken):
                pass
            raise  # not reached when the counted pass refuses the same record, as it does

    return opened, records()


def read_sequences(opened: Opened, molecule: MoleculeType, filename: str, limits: Limits,
                   taken: Callable[[str], bool] = lambda identifier: False,
                   exact_lines: bool = True) -> Iterator[Sequence]:
    """Yield each record of the upload checked and normalized; raise on the first bad one.

    ``taken`` says whether the declaration already holds an identifier (from an earlier file).
    Without ``exact_lines``, FASTA messages say line 0 (see read_upload).
    """
    if opened.format is SequenceFormat.FASTA:
        lines = _FastaLines(opened.text) if exact_lines else None
        records = _fasta(lines, opened.text, filename)
    else:
        lines = _GenBankLines(opened.text)
        records = _genbank(lines, filename)
    seen: dict[str, int] = {}
    while True:
        try:
            raw = next(records)
        except StopIteration:
            break
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise _damaged_gzip(filename, _line(lines)) from exc
        yield _checked(raw, molecule, filename, seen, taken)
        if len(seen) > limits.max_sequences:
            raise refuse(N_("%(file)s: more than %(limit)s sequences in one file")
                         % {"file": filename, "limit": limits.max_sequences})
    opened.meter.drain()


def _line(lines) -> int:
    """The line a reader stopped at (0 when lines are not counted)."""
    return 0 if lines is None else lines.line + 1


def _checked(raw: _Raw, molecule: MoleculeType, filename: str, seen: dict[str, int],
             taken: Callable[[str], bool]) -> Sequence:
    where = {"file": filename, "record": raw.identifier, "line": raw.line}
    if NOT_TEXT.search(raw.identifier) or NOT_TEXT.search(raw.description):
        raise _not_text(filename, raw.line)
    if len(raw.identifier) > IDENTIFIER_MAX:
        raise refuse(N_("%(file)s, record %(record)s, line %(line)s: the identifier is longer "
                        "than %(limit)s characters") % {**where, "limit": IDENTIFIER_MAX})
    if raw.identifier in seen:
        raise refuse(N_("%(file)s, record %(record)s, line %(line)s: the identifier is already "
                        "used by the record at line %(first)s")
                     % {**where, "first": seen[raw.identifier]})
    if taken(raw.identifier):
        raise refuse(N_("%(file)s, record %(record)s, line %(line)s: this declaration already "
                        "has a sequence with this identifier") % where)
    seen[raw.identifier] = raw.line
    return Sequence(identifier=raw.identifier, description=raw.description[:2000],
                    line=raw.line, residues=normalize(raw, molecule, filename),
                    source_organism=raw.source_organism, accessions=raw.accessions)
