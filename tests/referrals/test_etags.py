"""referrals.etags: entity tags made, read and compared as RFC 9110 says (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referrals.etags import ANY, MalformedTags, Tag, parse_tags, strong_match, tag_of, weak_match


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ("*", ANY),
        (" * ", ANY),
        ('"abc"', (Tag('"abc"'),)),
        ('W/"abc"', (Tag('"abc"', weak=True),)),
        ('"a", W/"b"', (Tag('"a"'), Tag('"b"', weak=True))),
        ('"a",,\t"b" ,', (Tag('"a"'), Tag('"b"'))),  # empty list elements are allowed
        ('"a,b"', (Tag('"a,b"'),)),  # a comma is a tag's character
        ('""', (Tag('""'),)),
    ],
)
def test_a_header_reads_as_star_or_its_tags(header, tags):
    assert parse_tags(header) == tags


@pytest.mark.parametrize(
    "header", ["", ",", "abc", '"abc', 'abc"', '"a" "b"', 'w/"a"', '"a"b', '"a b"', "**", '*, "a"']
)
def test_anything_else_is_malformed(header):
    with pytest.raises(MalformedTags):
        parse_tags(header)


def test_if_match_compares_strongly_and_if_none_match_weakly():
    current = '"v1"'
    assert strong_match(parse_tags('"v0", "v1"'), current)
    assert not strong_match(parse_tags('W/"v1"'), current)  # RFC 9110 §13.1.1
    assert not strong_match(parse_tags('"v0"'), current)
    assert strong_match(parse_tags("*"), current)
    assert weak_match(parse_tags('W/"v1"'), current)  # §13.1.2
    assert weak_match(parse_tags("*"), current)
    assert not weak_match(parse_tags('"v0"'), current)


@given(st.dictionaries(st.text(), st.one_of(st.none(), st.integers(), st.text())))
def test_a_tag_is_strong_quoted_and_read_back_as_itself(body):
    tag = tag_of(body)
    assert tag == tag_of(dict(reversed(body.items())))  # the same content, whatever its order
    assert parse_tags(tag) == (Tag(tag),)
    assert strong_match(parse_tags(tag), tag)


def test_a_tag_changes_with_the_content():
    assert tag_of({"status": "new"}) != tag_of({"status": "claimed"})
