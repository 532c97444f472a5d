"""The one canonical form of an email address: pure, no Django.

Every address Threshold stores and every address it looks up goes through `canonical_email`, and the two
are then compared exactly, never case-insensitively in the database. Database case folding is the bug
this prevents: PostgreSQL upper-cases the dotless i (U+0131) to `I` and the long s (U+017F) to `S`, so
`victim@ma<U+0131>l.example` matched `victim@mail.example` with `iexact` although mail to the first goes to
another registrable domain (`xn--mal-kua.example`), someone else's mailbox.

The canonical form:
- Unicode NFKC, then surrounding whitespace stripped (full-width letters, the Kelvin sign U+212A and the
  long s U+017F become their ASCII letters; the ideographic full stop becomes a dot);
- the part before the last `@` must then be plain ASCII (a dot-atom), and is lower-cased. A local part
  with other characters is refused: every stored address is ASCII, so no comparison can depend on how a
  database or a library folds the case of non-ASCII letters;
- the domain goes to ASCII through IDNA (UTS #46, non-transitional, as browsers resolve it: `ma<U+0131>l`
  becomes `xn--mal-kua`, not `mail`), lower-cased, without a trailing dot;
- at most 64 characters before the `@` and 254 in all (RFC 5321).
"""

from __future__ import annotations

import re
import unicodedata

import idna

MAX_LENGTH = 254
MAX_LOCAL_LENGTH = 64

INVALID = "Enter a valid email address."
NON_ASCII_LOCAL = (
    "Use an address whose part before the @ has only plain letters a to z, digits and . _ - + "
    "(other characters there are not accepted)."
)

# RFC 5322 dot-atom (what Django's EmailValidator accepts before the @, quoted strings aside).
_DOT_ATOM = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


class InvalidEmail(ValueError):
    """An address with no canonical form. The message is user-facing."""


def canonical_email(raw: str) -> str:
    """The canonical form of `raw` (see the module docstring); InvalidEmail if it has none."""
    text = unicodedata.normalize("NFKC", raw).strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidEmail(INVALID)
    if not local.isascii():
        raise InvalidEmail(NON_ASCII_LOCAL)
    local = local.lower()
    if len(local) > MAX_LOCAL_LENGTH or not _DOT_ATOM.match(local):
        raise InvalidEmail(INVALID)
    try:
        ascii_domain = idna.encode(domain, uts46=True, std3_rules=True, transitional=False).decode("ascii")
    except (UnicodeError, ValueError):  # idna.IDNAError is both
        raise InvalidEmail(INVALID) from None
    ascii_domain = ascii_domain.lower().removesuffix(".")
    if not ascii_domain or ".." in ascii_domain:
        raise InvalidEmail(INVALID)
    address = f"{local}@{ascii_domain}"
    if len(address) > MAX_LENGTH:
        raise InvalidEmail(INVALID)
    return address


def canonical_or_none(raw: str) -> str | None:
    """`canonical_email(raw)`, or None for an address that has no canonical form."""
    try:
        return canonical_email(raw)
    except InvalidEmail:
        return None
