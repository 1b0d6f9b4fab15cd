"""Exposed tool names: deterministic, collision-free, stable, at most 128 characters."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from mcpkit.gateway.naming import MAX_NAME, SEPARATOR, assign_names, collisions

# Ids and names that contain the separator make ``a`` + ``b__c`` and ``a__b`` + ``c`` meet.
server_ids = st.one_of(
    st.sampled_from(["a", "a__b", "q", "git", "svn"]),
    st.text(alphabet="abcdefgh-_.", min_size=1, max_size=12),
)
tool_names = st.one_of(
    st.sampled_from(["echo", "search", "b__c", "c", "x~2", "q__c"]),
    st.text(alphabet="abcxyz_~-", min_size=1, max_size=10),
    # Long names push the 128-character limit, and its cuts, to collide.
    st.text(alphabet="ab", min_size=120, max_size=140),
    st.text(alphabet="ab", min_size=1, max_size=3).map(lambda tail: "t" * 127 + tail),
)
servers = st.dictionaries(
    server_ids, st.lists(tool_names, max_size=6, unique=True), min_size=0, max_size=5
)


def items_of(by_server: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(sid, tool) for sid, tools in by_server.items() for tool in tools]


@settings(max_examples=100, deadline=None)
@given(servers, st.booleans(), st.randoms(use_true_random=False))
def test_names_do_not_depend_on_the_order_servers_are_listed_in(
    by_server: dict[str, list[str]], prefix_all: bool, rnd: object
) -> None:
    items = items_of(by_server)
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert assign_names(items, prefix_all=prefix_all) == assign_names(
        shuffled, prefix_all=prefix_all
    )


@settings(max_examples=150, deadline=None)
@given(servers, st.booleans())
def test_every_tool_gets_one_unique_name_of_at_most_128_characters(
    by_server: dict[str, list[str]], prefix_all: bool
) -> None:
    items = items_of(by_server)
    names = assign_names(items, prefix_all=prefix_all)
    assert set(names) == set(items)
    assert len(set(names.values())) == len(names), Counter(names.values()).most_common(3)
    assert all(0 < len(name) <= MAX_NAME for name in names.values())


@settings(max_examples=100, deadline=None)
@given(servers, server_ids, st.lists(tool_names, max_size=6, unique=True))
def test_adding_a_server_never_renames_another_servers_tool_it_does_not_collide_with(
    by_server: dict[str, list[str]], new_server: str, new_tools: list[str]
) -> None:
    if new_server in by_server:
        return
    before = assign_names(items_of(by_server))
    after = assign_names(items_of({**by_server, new_server: new_tools}))
    # Names longer than 128 characters collide when they are cut to the same text.
    new_cuts = {tool[:MAX_NAME] for tool in new_tools}
    for (sid, tool), name in before.items():
        exposed_plainly = name == tool[:MAX_NAME]
        if exposed_plainly and tool[:MAX_NAME] not in new_cuts:
            assert after[(sid, tool)] == name, (sid, tool)


@settings(max_examples=100, deadline=None)
@given(servers)
def test_prefix_all_exposes_every_tool_as_server__tool(by_server: dict[str, list[str]]) -> None:
    names = assign_names(items_of(by_server), prefix_all=True)
    for (sid, tool), name in names.items():
        full = f"{sid}{SEPARATOR}{tool}"
        if len(full) <= MAX_NAME and list(names.values()).count(full) == 1:
            assert name == full or name.startswith(full + "~")
        assert name.startswith(f"{sid}{SEPARATOR}"[:MAX_NAME])


@settings(max_examples=100, deadline=None)
@given(servers)
def test_a_name_two_servers_give_is_prefixed_for_both_and_a_unique_one_is_kept(
    by_server: dict[str, list[str]],
) -> None:
    items = items_of(by_server)
    names = assign_names(items)
    clashing = collisions(items)
    cuts = Counter(tool[:MAX_NAME] for tool in {t for _, t in items if t not in clashing})
    for (sid, tool), name in names.items():
        if tool in clashing or cuts[tool[:MAX_NAME]] > 1:
            assert name.startswith(f"{sid}{SEPARATOR}"[:MAX_NAME]), (sid, tool, name)
        else:
            assert name == tool[:MAX_NAME]


def test_two_servers_with_the_same_tool_both_get_prefixes() -> None:
    names = assign_names([("git", "status"), ("svn", "status"), ("git", "log")])
    assert names == {
        ("git", "status"): "git__status",
        ("svn", "status"): "svn__status",
        ("git", "log"): "log",
    }
    assert collisions([("git", "status"), ("svn", "status")]) == {"status": ["git", "svn"]}


def test_a_prefixed_name_that_is_already_taken_gets_a_numbered_suffix() -> None:
    # server "a" gives "b__c" plainly; servers "a" and "b" both give "c"... and "b" gives
    # "b__c" too: the clash of prefixed names is settled by suffixes, never by dropping one.
    items = [("a", "c"), ("b", "c"), ("x", "b__c"), ("y", "b__c")]
    names = assign_names(items)
    assert len(set(names.values())) == 4
    assert names[("a", "c")] == "a__c"
    assert {names[("b", "c")], names[("y", "b__c")], names[("x", "b__c")]} >= {"x__b__c"}


def test_long_names_are_cut_to_128_characters_and_stay_unique() -> None:
    long = "t" * 200
    names = assign_names([("one", long), ("two", long), ("one", long + "x")])
    assert all(len(n) <= MAX_NAME for n in names.values())
    assert len(set(names.values())) == 3


def test_prefixed_names_that_meet_are_settled_the_same_way_whatever_the_order() -> None:
    items = [("a", "b__c"), ("q", "b__c"), ("a__b", "c"), ("q", "c")]
    forward = assign_names(items)
    assert forward == assign_names(items[::-1])
    assert len(set(forward.values())) == 4


def test_two_unique_long_names_that_cut_to_the_same_128_characters_stay_distinct() -> None:
    one, two = "t" * 130 + "a", "t" * 130 + "b"
    names = assign_names([("s1", one), ("s2", two)])
    assert len(set(names.values())) == 2
    assert all(len(n) <= MAX_NAME for n in names.values())


def test_a_duplicate_pair_is_named_once() -> None:
    assert assign_names([("a", "x"), ("a", "x")]) == {("a", "x"): "x"}
