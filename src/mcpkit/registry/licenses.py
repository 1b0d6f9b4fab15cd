"""Licences: SPDX expressions evaluated for permissiveness, and licences recognised
from what a source ships (LICENSE texts, wheel metadata, trove classifiers).

A registry only accepts servers whose code anyone may run and redistribute without
copyleft obligations reaching the user's own work: MIT, Apache-2.0, the BSDs, ISC and
the like, plus MPL-2.0 (its copyleft stays within the files it covers). An ``OR``
expression is acceptable when one of its choices is; an ``AND`` only when all are.
Everything else (GPL, AGPL, LGPL, SSPL, BUSL, proprietary, unknown words) is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseExpression,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)

#: SPDX ids accepted as permissive (compared case-insensitively).
PERMISSIVE = frozenset(
    k.lower()
    for k in (
        "MIT", "MIT-0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear",
        "0BSD", "ISC", "Unlicense", "CC0-1.0", "Zlib", "PSF-2.0", "Python-2.0", "BSL-1.0",
        "MPL-2.0", "UPL-1.0", "X11", "NCSA", "BlueOak-1.0.0", "PostgreSQL", "HPND",
    )
)  # fmt: skip

# Names packages write in free-text licence fields, mapped to SPDX ids.
_ALIASES = {
    "mit license": "MIT",
    "the mit license": "MIT",
    "mit licence": "MIT",
    "apache": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "apache software license 2.0": "Apache-2.0",
    "asl 2.0": "Apache-2.0",
    "bsd": "BSD-3-Clause",
    "bsd license": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "simplified bsd license": "BSD-2-Clause",
    "isc license": "ISC",
    "isc license (iscl)": "ISC",
    "mozilla public license 2.0": "MPL-2.0",
    "public domain": "Unlicense",
    "the unlicense": "Unlicense",
    "gplv3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later",
    "gplv2": "GPL-2.0-only",
    "agplv3": "AGPL-3.0-only",
    "lgplv3": "LGPL-3.0-only",
}

# Trove classifiers (after "License :: ") mapped to SPDX ids.
_CLASSIFIERS = {
    "OSI Approved :: MIT License": "MIT",
    "OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "OSI Approved :: Apache Software License": "Apache-2.0",
    "OSI Approved :: BSD License": "BSD-3-Clause",
    "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: zlib/libpng License": "Zlib",
    "OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": (
        "AGPL-3.0-or-later"
    ),
    "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": (
        "LGPL-2.0-or-later"
    ),
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": (
        "LGPL-3.0-or-later"
    ),
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "Other/Proprietary License": "LicenseRef-Proprietary",
}


@dataclass(frozen=True)
class Verdict:
    """What an SPDX expression allows.

    ``expression`` is the normalised expression (``None`` when it cannot be parsed);
    ``blocking`` lists the licences that make it unacceptable.
    """

    expression: str | None
    permissive: bool
    blocking: tuple[str, ...] = ()


@cache
def _licensing() -> Licensing:
    return get_spdx_licensing()


def parse(text: str) -> LicenseExpression | None:
    """``text`` as a licence expression, or ``None`` when it is not one."""
    alias = _ALIASES.get(text.strip().lower())
    try:
        return _licensing().parse(alias or text.strip(), validate=False, simple=False)
    except ExpressionError:
        return None


def normalise(text: str) -> str | None:
    """The canonical SPDX form of ``text`` (``mit`` → ``MIT``), or ``None``."""
    parsed = parse(text)
    return str(parsed) if parsed is not None else None


def evaluate(text: str) -> Verdict:
    """Whether ``text`` (an SPDX expression) is a permissive licence."""
    parsed = parse(text)
    if parsed is None:
        return Verdict(None, False, (text.strip(),))
    blocking = _blocking(parsed)
    return Verdict(str(parsed), not blocking, tuple(dict.fromkeys(blocking)))


def _blocking(node: object) -> list[str]:
    """The licences in ``node`` that stand in the way (empty when acceptable)."""
    if isinstance(node, LicenseWithExceptionSymbol):
        return _blocking(node.license_symbol)
    if isinstance(node, LicenseSymbol):
        return [] if str(node.key).lower() in PERMISSIVE else [str(node.key)]
    if isinstance(node, OR):
        options = [_blocking(arg) for arg in node.args]
        if any(not option for option in options):
            return []
        return [name for option in options for name in option]
    if isinstance(node, AND):
        return [name for arg in node.args for name in _blocking(arg)]
    return [str(node)]


def equivalent(first: str, second: str) -> bool:
    """True when two expressions mean the same licence terms."""
    a, b = parse(first), parse(second)
    if a is None or b is None:
        return first.strip().lower() == second.strip().lower()
    try:
        return bool(_licensing().is_equivalent(a, b))
    except ExpressionError:
        return str(a) == str(b)


def from_classifiers(classifiers: list[str]) -> str | None:
    """An SPDX expression from ``License ::`` trove classifiers (several: any of them)."""
    found = [
        _CLASSIFIERS[c.removeprefix("License ::").strip()]
        for c in classifiers
        if c.startswith("License ::") and c.removeprefix("License ::").strip() in _CLASSIFIERS
    ]
    unique = list(dict.fromkeys(found))
    return " OR ".join(unique) if unique else None


def from_field(value: str) -> str | None:
    """A licence from a free-text metadata field: an expression, a known name, or a text."""
    text = value.strip()
    if not text or text.upper() in {"UNKNOWN", "NONE"}:
        return None
    if "\n" not in text and len(text) <= 200:
        alias = _ALIASES.get(text.lower())
        if alias:
            return alias
        parsed = parse(text)
        if parsed is not None and not _licensing().validate(str(parsed)).errors:
            return str(parsed)
    return recognise_text(text)


def _words(text: str) -> str:
    return re.sub(r"[^a-z0-9.+]+", " ", text.lower())


# Distinctive sentences (lower-cased, punctuation as spaces) → SPDX id, checked in order.
_TEXTS: tuple[tuple[str, str], ...] = (
    ("server side public license", "SSPL-1.0"),
    ("business source license", "BUSL-1.1"),
    ("mozilla public license version 2.0", "MPL-2.0"),
    ("mozilla public license v. 2.0", "MPL-2.0"),
    ("apache license version 2.0", "Apache-2.0"),
    ("this is free and unencumbered software released into the public domain", "Unlicense"),
    ("permission is hereby granted free of charge to any person obtaining a copy", "MIT"),
    ("permission to use copy modify and or distribute this software for any", "ISC"),
    ("permission to use copy modify and distribute this software for any", "ISC"),
)
_BSD = "redistribution and use in source and binary forms"


def recognise_text(text: str) -> str | None:
    """The SPDX id of a licence file's text, for the licences registries commonly meet.

    Recognition keys on each licence's distinctive sentences, so reformatting and a
    copyright line do not matter. ``None`` when the text is none of them.
    """
    t = _words(text)
    gnu = _gnu(t)
    if gnu:
        return gnu
    for phrase, spdx in _TEXTS:
        if phrase in t:
            return spdx
    if _BSD in t:
        three = "neither the name" in t or "names of its contributors" in t
        return "BSD-3-Clause" if three else "BSD-2-Clause"
    return None


def _gnu(t: str) -> str | None:
    """The GNU licences (AGPL, LGPL, GPL), full texts and the short notices alike."""
    if "gnu affero general public license" in t:
        family, version = "AGPL", "3.0"
    elif "gnu lesser general public license" in t or "gnu library general public license" in t:
        family, version = "LGPL", "3.0" if "version 3" in t else "2.1"
    elif "gnu general public license" in t:
        family = "GPL"
        version = "3.0" if "version 3" in t else "2.0" if "version 2" in t else "1.0"
    else:
        return None
    return f"{family}-{version}-{'or-later' if 'any later version' in t else 'only'}"
