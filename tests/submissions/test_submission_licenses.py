"""Licences: SPDX evaluation, recognition of licence texts, and the licence rules on
submissions whose source is a local git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcpkit.registry import licenses
from mcpkit.registry.findings import Finding, has_errors
from mcpkit.registry.lint import lint_submission
from mcpkit.registry.submission import load_submission

W = "servers/sample/server.yaml"

APACHE_TEXT = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/
   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION
"""
BSD3_TEXT = """Copyright (c) 2025, Example
Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:
3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.
"""
ISC_TEXT = """ISC License
Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.
"""
AGPL_TEXT = "GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007\n"
LGPL_TEXT = "GNU LESSER GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n"
UNLICENSE_TEXT = (
    "This is free and unencumbered software released into the public domain.\n"
    "Anyone is free to copy, modify, publish, use, compile, sell, or distribute..."
)


@pytest.mark.parametrize(
    ("expression", "permissive", "blocking"),
    [
        ("MIT", True, ()),
        ("mit", True, ()),
        ("Apache-2.0 OR MIT", True, ()),
        ("MIT OR GPL-3.0-only", True, ()),
        ("MIT AND GPL-3.0-only", False, ("GPL-3.0-only",)),
        ("GPL-2.0-only WITH Classpath-exception-2.0", False, ("GPL-2.0-only",)),
        ("AGPL-3.0-or-later", False, ("AGPL-3.0-or-later",)),
        ("LGPL-2.1-or-later", False, ("LGPL-2.1-or-later",)),
        ("SSPL-1.0", False, ("SSPL-1.0",)),
        ("BUSL-1.1", False, ("BUSL-1.1",)),
        ("proprietary", False, ("proprietary",)),
        ("UNLICENSED", False, ("UNLICENSED",)),
        ("MPL-2.0", True, ()),
    ],
)
def test_spdx_expressions_are_permissive_only_when_every_required_part_is(
    expression: str, permissive: bool, blocking: tuple[str, ...]
) -> None:
    verdict = licenses.evaluate(expression)
    assert (verdict.permissive, verdict.blocking) == (permissive, blocking)


def test_expressions_are_normalised_and_compared_by_meaning() -> None:
    assert licenses.normalise("mit") == "MIT"
    assert licenses.normalise("GPL-3.0+") == "GPL-3.0-or-later"
    assert licenses.equivalent("MIT OR Apache-2.0", "Apache-2.0 OR MIT")
    assert not licenses.equivalent("MIT", "ISC")
    assert licenses.evaluate("not a licence (at all").expression is None


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        ("mit_text", "MIT"),
        (APACHE_TEXT, "Apache-2.0"),
        (BSD3_TEXT, "BSD-3-Clause"),
        (BSD3_TEXT.split("3.", maxsplit=1)[0], "BSD-2-Clause"),
        (ISC_TEXT, "ISC"),
        ("gpl3_header", "GPL-3.0-or-later"),
        (AGPL_TEXT, "AGPL-3.0-only"),
        (LGPL_TEXT, "LGPL-3.0-only"),
        (UNLICENSE_TEXT, "Unlicense"),
        ("All rights reserved. Do not copy.", None),
    ],
)
def test_licence_texts_are_recognised_by_their_distinctive_sentences(
    helpers: Any, text: str, spdx: str | None
) -> None:
    text = getattr(helpers, text, text)
    assert licenses.recognise_text(text) == spdx


def test_trove_classifiers_and_free_text_fields_map_to_spdx() -> None:
    assert licenses.from_classifiers(["License :: OSI Approved :: MIT License"]) == "MIT"
    both = ["License :: OSI Approved :: MIT License",
            "License :: OSI Approved :: Apache Software License"]  # fmt: skip
    assert licenses.from_classifiers(both) == "MIT OR Apache-2.0"
    gpl = ["License :: OSI Approved :: GNU General Public License v3 (GPLv3)"]
    assert licenses.from_classifiers(gpl) == "GPL-3.0-only"
    assert licenses.from_classifiers(["Programming Language :: Python"]) is None
    assert licenses.from_field("MIT License") == "MIT"
    assert licenses.from_field("Apache-2.0") == "Apache-2.0"
    assert licenses.from_field("UNKNOWN") is None


async def lint_repo(
    tmp_path: Path, helpers: Any, environ: dict[str, str], files: dict[str, str], **extra: Any
) -> list[Finding]:
    commit = helpers.make_repo(tmp_path / "upstream", files)
    data = {
        "name": "sample",
        "title": "Sample",
        "description": "A sample server.",
        "license": "MIT",
        "source": {"type": "git", "url": str(tmp_path / "upstream"), "commit": commit},
        **extra,
    }
    folder = helpers.write_submission(tmp_path / "registry", "sample", data)
    sub = load_submission(folder, root=tmp_path / "registry")
    return await lint_submission(sub, environ=environ, workdir=tmp_path / "work")


def found(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.rule, f.severity, f.where) for f in findings]


@pytest.mark.anyio
async def test_a_gpl_source_is_rejected_saying_which_licence_and_where(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    findings = await lint_repo(tmp_path, helpers, environ, {"LICENSE": helpers.gpl3_header})
    assert found(findings) == [
        ("license.not-permissive", "error", f"{W}:source"),
        ("license.mismatch", "error", f"{W}:license"),
    ]
    assert "GPL-3.0-or-later (read from LICENSE)" in findings[0].message
    assert "declares MIT but the source says GPL-3.0-or-later" in findings[1].message


@pytest.mark.anyio
async def test_a_different_but_permissive_source_licence_is_a_warning(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    findings = await lint_repo(tmp_path, helpers, environ, {"COPYING": APACHE_TEXT})
    assert found(findings) == [("license.mismatch", "warning", f"{W}:license")]
    assert not has_errors(findings)
    assert findings[0].hint == "declare the licence the source states: license: Apache-2.0"


@pytest.mark.anyio
async def test_a_non_permissive_declared_licence_is_rejected(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    findings = await lint_repo(
        tmp_path, helpers, environ, {"LICENSE": helpers.mit_text}, license="BUSL-1.1"
    )
    assert ("license.not-permissive", "error", f"{W}:license") in found(findings)
    assert "BUSL-1.1 is not permissive" in findings[0].message


@pytest.mark.anyio
async def test_a_source_without_a_licence_file_is_missing_one(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    findings = await lint_repo(tmp_path, helpers, environ, {"README.md": "# sample\n"})
    assert found(findings) == [("license.missing", "error", f"{W}:source")]


@pytest.mark.anyio
async def test_an_unrecognised_licence_text_is_not_accepted(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    files = {"LICENSE": "Copyright Example Corp. All rights reserved."}
    findings = await lint_repo(tmp_path, helpers, environ, files)
    assert found(findings) == [("license.not-permissive", "error", f"{W}:source")]
    assert "the licence in LICENSE is not one mcpkit recognises" in findings[0].message


@pytest.mark.anyio
async def test_a_missing_declared_licence_is_reported_even_offline(
    tmp_path: Path, helpers: Any
) -> None:
    data = {
        "name": "sample",
        "title": "Sample",
        "description": "A sample server.",
        "source": {"type": "git", "url": "https://github.com/example/sample", "commit": "a" * 40},
    }
    folder = helpers.write_submission(tmp_path, "sample", data)
    findings = await lint_submission(load_submission(folder, root=tmp_path), environ={},
                                     offline=True)  # fmt: skip
    assert found(findings) == [
        ("license.missing", "error", f"{W}:license"),
        ("license.unverified", "warning", f"{W}:license"),
    ]


@pytest.mark.anyio
async def test_a_docker_format_submission_reads_the_licence_of_its_project(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    commit = helpers.make_repo(
        tmp_path / "upstream", {"LICENSE": helpers.gpl3_header, "Dockerfile": "FROM scratch\n"}
    )
    data = {
        "name": "sample",
        "image": "mcp/sample",
        "type": "server",
        "meta": {"category": "devops", "tags": ["devops"]},
        "about": {"title": "Sample", "description": "A sample server."},
        "source": {"project": str(tmp_path / "upstream"), "commit": commit, "branch": "main"},
    }
    folder = helpers.write_submission(tmp_path / "registry", "sample", data)
    sub = load_submission(folder, root=tmp_path / "registry")
    findings = await lint_submission(sub, environ=environ, workdir=tmp_path / "work")
    assert found(findings) == [("license.not-permissive", "error", f"{W}:source.project")]
    assert "GPL-3.0-or-later (read from LICENSE)" in findings[0].message


@pytest.mark.anyio
async def test_a_docker_format_remote_is_checked_for_its_transport_and_url(
    tmp_path: Path, helpers: Any
) -> None:
    data = {
        "name": "sample",
        "type": "remote",
        "meta": {"category": "devops"},
        "about": {"title": "Sample", "description": "A hosted sample server."},
        "remote": {"transport_type": "websocket", "url": "http://sample.example.com/mcp"},
    }
    folder = helpers.write_submission(tmp_path, "sample", data)
    findings = await lint_submission(load_submission(folder, root=tmp_path), environ={})
    assert ("remote.transport", "error", f"{W}:remote.transport_type") in found(findings)
    assert ("remote.url", "error", f"{W}:remote.url") in found(findings)
    assert ("license.unverified", "warning", W) in found(findings)
