"""The ISO 20022 messages PayHub reads and writes, their official schemas, and the parsing,
validating and serialising every message module shares.

lxml (libxml2) does the XML work: it validates against the published XSDs at C speed, which
is what lets a statement of a million entries be read in one streaming pass.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import IO

from lxml import etree

from payhub.core.errors import PayHubError


class MessageType(StrEnum):
    PAIN_001 = "pain.001.001.09"  # customer credit transfer initiation
    PAIN_002 = "pain.002.001.12"  # customer payment status report
    CAMT_053 = "camt.053.001.08"  # bank-to-customer statement

    @property
    def namespace(self) -> str:
        return f"urn:iso:std:iso:20022:tech:xsd:{self.value}"


_BY_NAMESPACE = {m.namespace: m for m in MessageType}


@cache
def schema(message: MessageType) -> etree.XMLSchema:
    """The official XSD of a message, loaded once per process."""
    data = resources.files("payhub.iso20022").joinpath(f"xsd/{message.value}.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(data, _parser()))


def _parser() -> etree.XMLParser:
    # No DTDs, no entity expansion, no network: a bank file is data, never instructions.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


_PROLOG_BYTES = 64 * 1024
_FIRST_ELEMENT = re.compile(rb"<(?![?!])")


def check_prolog(head: bytes, message: str) -> None:
    """Refuse, before any parsing, what a bank file never needs and a hostile one uses: a
    document type declaration (entities; libxml2's streaming validator also mishandles
    entity references) and encodings other than UTF-8, which would hide one from this check."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:4] in (
        b"\x00\x00\xfe\xff",
        b"\xff\xfe\x00\x00",
    ):
        raise invalid_file(message, "ISO 20022 files are UTF-8")
    first = _FIRST_ELEMENT.search(head)
    prolog = head if first is None else head[: first.start()]
    if b"<!DOCTYPE" in prolog:
        raise invalid_file(message, "a document type declaration is not allowed")


class _Replay(io.RawIOBase):
    """A stream whose first bytes were already read for `check_prolog`, read again."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def invalid_file(message: str, problem: str) -> PayHubError:
    return PayHubError("invalid_file", message=message, problem=scrub(problem))


_NAMESPACE = re.compile(r"\{[^}]*\}")
_QUOTED = re.compile(r"'([^']*)'")
_LIKE_NAME = re.compile(r"[A-Za-z]{1,35}")


def scrub(problem: str) -> str:
    """A validator's message without the values it quotes: element names and code words stay,
    anything with a digit or a space (an account number, a name, an amount) becomes '…'."""
    problem = _NAMESPACE.sub("", problem)

    def keep(match: re.Match[str]) -> str:
        word = match.group(1)
        return match.group(0) if _LIKE_NAME.fullmatch(word) else "'…'"

    return _QUOTED.sub(keep, problem)[:300]


def _first_error(log: etree._ListErrorLog) -> str:
    error = log[0] if len(log) else None
    if error is None:
        return "the schema rejected it"
    return f"line {error.line}: {error.message}"


def detect(data: bytes) -> MessageType:
    """The message a file holds, from its root element's namespace."""
    check_prolog(data[:_PROLOG_BYTES], "ISO 20022")
    try:
        for _, element in etree.iterparse(
            io.BytesIO(data),
            events=("start",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
        ):
            return message_of(element, "ISO 20022")
    except etree.XMLSyntaxError as error:
        raise invalid_file("ISO 20022", f"not well-formed XML ({error.msg})") from None
    raise invalid_file("ISO 20022", "the file is empty")


def message_of(root: etree._Element, expected: str) -> MessageType:
    name = etree.QName(root)
    found = _BY_NAMESPACE.get(name.namespace or "")
    if found is None or name.localname != "Document":
        known = ", ".join(m.value for m in MessageType)
        raise invalid_file(
            expected, f"the root is not an ISO 20022 Document of a supported message ({known})"
        )
    return found


def parse(data: bytes, message: MessageType) -> etree._Element:
    """Parse and validate a whole (small) file against its message's XSD."""
    check_prolog(data[:_PROLOG_BYTES], message.value)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise invalid_file(message.value, f"not well-formed XML ({error.msg})") from None
    if root.getroottree().docinfo.doctype:
        raise invalid_file(message.value, "a document type declaration is not allowed")
    if message_of(root, message.value) is not message:
        raise invalid_file(message.value, f"the file holds {etree.QName(root).namespace}")
    xsd = schema(message)
    if not xsd.validate(root):
        raise invalid_file(message.value, _first_error(xsd.error_log))
    return root


def iterparse(
    source: IO[bytes], message: MessageType, tags: Sequence[str]
) -> Iterator[tuple[str, etree._Element]]:
    """Stream a large file: ("start" | "end", element) events for the elements named in `tags`,
    validated against the XSD as it is read. A problem anywhere raises `invalid_file`, possibly
    after earlier events: the caller must not act on them before the stream has ended."""
    names = [f"{{{message.namespace}}}{name}" for name in ("Document", *tags)]
    head = source.read(_PROLOG_BYTES)
    check_prolog(head, message.value)
    # Not resolve_entities=False: with it, libxml2's streaming validation silently closes a
    # truncated file. Entities are kept out by refusing any DTD up front instead.
    events = etree.iterparse(
        io.BufferedReader(_Replay(head, source)),
        events=("start", "end"),
        tag=names,
        schema=schema(message),
        no_network=True,
        load_dtd=False,
        huge_tree=True,
    )
    try:
        for event, element in events:
            if element.tag != names[0]:
                yield event, element
    except etree.XMLSyntaxError as error:
        raise invalid_file(message.value, _syntax_problem(error)) from None
    if events.root is None:
        raise invalid_file(message.value, "the file is empty")


_WRAPPED = re.compile(r"(?:line \d+: )?b'(.*)'")


def _syntax_problem(error: etree.XMLSyntaxError) -> str:
    # Errors raised mid-stream arrive as "line N: b'<libxml2 message>'": unwrap them.
    text = str(error.msg or "")
    wrapped = _WRAPPED.fullmatch(text)
    if wrapped:
        text = wrapped.group(1)
    return f"line {error.lineno}: {text}" if error.lineno else text


def serialize(root: etree._Element, message: MessageType) -> bytes:
    """The document as UTF-8 bytes, after checking it against the XSD. A document that fails is
    built from values outside the message's limits: a request error, never a file."""
    xsd = schema(message)
    if not xsd.validate(root):
        raise PayHubError(
            "validation_error",
            detail=scrub(
                f"the {message.value} file would be invalid: {_first_error(xsd.error_log)}"
            ),
        )
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


class Builder:
    """Makes elements in one message's namespace: `b.sub(parent, "Amt", "12.30", Ccy="CNY")`."""

    def __init__(self, message: MessageType) -> None:
        self.ns = message.namespace
        self._tags: dict[str, str] = {}

    def tag(self, name: str) -> str:
        found = self._tags.get(name)
        if found is None:
            found = self._tags[name] = f"{{{self.ns}}}{name}"
        return found

    def root(self) -> etree._Element:
        return etree.Element(self.tag("Document"), nsmap={None: self.ns})

    def element(self, name: str) -> etree._Element:
        return etree.Element(self.tag(name), nsmap={None: self.ns})

    def sub(
        self, parent: etree._Element, name: str, text: str | None = None, **attributes: str
    ) -> etree._Element:
        child = etree.SubElement(parent, self.tag(name), attributes or None)
        if text is not None:
            child.text = text
        return child

    def path(self, parent: etree._Element, *names: str, text: str | None = None) -> etree._Element:
        """A chain of single children, the last one holding `text`: path(p, "Sts", "Cd", text=…)."""
        node = parent
        for name in names:
            node = self.sub(node, name)
        if text is not None:
            node.text = text
        return node


class Reader:
    """Reads children of elements in one message's namespace."""

    def __init__(self, message: MessageType) -> None:
        self.ns = message.namespace
        self.prefix = f"{{{self.ns}}}"

    def find(self, element: etree._Element, path: str) -> etree._Element | None:
        return element.find(self._qualify(path))

    def findall(self, element: etree._Element, path: str) -> list[etree._Element]:
        return list(element.iterfind(self._qualify(path)))

    def text(self, element: etree._Element, path: str) -> str | None:
        found = element.find(self._qualify(path))
        return None if found is None else (found.text or "")

    def _qualify(self, path: str) -> str:
        return "/".join(self.prefix + part for part in path.split("/"))
