"""referrals.accept: the type a client prefers by Accept's weights (RFC 9110, 12.5.1)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referrals.accept import choose, parse_accept, with_params

FHIR_FIRST = ["application/fhir+json", "application/json"]
JSON_FIRST = ["application/json", "application/fhir+json"]


def chosen(offers: list[str], header: str) -> str | None:
    choice = choose(offers, parse_accept(header.split(",")))
    return None if choice is None else offers[choice.index]


@pytest.mark.parametrize(
    ("offers", "header", "expected"),
    [
        # The client's weights decide.
        (FHIR_FIRST, "application/fhir+json;q=0.1, application/json;q=0.9", "application/json"),
        (JSON_FIRST, "application/json;q=0.5, application/fhir+json", "application/fhir+json"),
        (FHIR_FIRST, "application/*;q=0.2, application/json", "application/json"),
        # Weighted 0: not acceptable, whatever a wider range says.
        (FHIR_FIRST, "application/fhir+json;q=0, */*", "application/json"),
        (JSON_FIRST, "application/json;q=0, application/*;q=0.3", "application/fhir+json"),
        (["application/json"], "application/json;q=0", None),
        (["application/json"], "application/json;q=0.000", None),
        (["application/json"], "*/*;q=0", None),
        (["application/json"], "text/html;q=0, */*", "application/json"),
        # Equal weights: the type named over one a wildcard covers, then the server's order.
        (FHIR_FIRST, "application/json, */*", "application/json"),
        (FHIR_FIRST, "*/*", "application/fhir+json"),
        (FHIR_FIRST, "application/*", "application/fhir+json"),
        (JSON_FIRST, "application/fhir+json, application/json", "application/json"),
        # A browser's: nothing of ours named, */* at 0.8.
        (
            FHIR_FIRST,
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "application/fhir+json",
        ),
        # Nothing of ours named, nothing weighted: none acceptable (the API's leniency is
        # referrals.negotiation's).
        (["application/json"], "text/csv", None),
        (["application/json"], "", None),
        # Case, spaces and quotes do not matter.
        (FHIR_FIRST, 'Application/FHIR+JSON ; Q="0" , application/json', "application/json"),
        # A weight that is not one counts as 1, as Django reads it; a weight is read to three
        # decimals (RFC 9110's); a range that is not one is left out.
        (FHIR_FIRST, "application/fhir+json;q=2, application/json;q=0.5", "application/fhir+json"),
        (
            FHIR_FIRST,
            "application/fhir+json;q=0.5, application/json;q=0.0001",
            "application/fhir+json",
        ),
        (["application/json"], "application/json;q=abc", "application/json"),
        (FHIR_FIRST, "application/fhir+json;q=nan, application/json", "application/fhir+json"),
        (
            FHIR_FIRST,
            "application/fhir+json;q=nan, application/json;q=0.5",
            "application/fhir+json",
        ),
        (
            JSON_FIRST,
            "application/json;q=0.5, application/fhir+json;q=nan",
            "application/fhir+json",
        ),
        (["application/json"], "*/json, application", None),
    ],
)
def test_the_type_chosen_is_the_one_the_client_prefers(offers, header, expected):
    assert chosen(offers, header) == expected


@pytest.mark.parametrize("text", ["json", "", "*/json", "application/"])
def test_what_is_not_a_media_range_is_left_out(text):
    assert parse_accept([text, "text/*;q=0.3"])[0].sub_type == "*"
    assert len(parse_accept([text])) == 0


def test_the_chosen_ranges_parameters_go_to_the_renderer_its_weight_does_not():
    ranges = parse_accept(["application/json; indent=2; q=0.9", "application/fhir+json;q=0.1"])
    choice = choose(FHIR_FIRST, ranges)
    assert choice is not None
    assert FHIR_FIRST[choice.index] == "application/json"
    assert with_params("application/json", choice.params) == "application/json; indent=2"


weights = st.sampled_from(["0", "0.1", "0.5", "0.9", "1"])
ranges = st.sampled_from(
    ["application/json", "application/fhir+json", "application/*", "*/*", "text/html"]
)


@given(st.lists(st.tuples(ranges, weights), max_size=5), st.permutations(FHIR_FIRST))
def test_the_choice_is_never_refused_and_never_outweighed(elements, offers):
    header = [f"{media_range};q={q}" for media_range, q in elements]
    parsed = parse_accept(header)
    choice = choose(offers, parsed)

    def weight(offer: str) -> float | None:
        covering = [r for r in parsed if r.match(offer)]
        if not covering:
            return None
        top = max(r.specificity for r in covering)
        return max(r.quality for r in covering if r.specificity == top)

    acceptable = {offer: weight(offer) for offer in offers}
    if choice is None:
        assert all(q is None or q == 0 for q in acceptable.values())
    else:
        q = acceptable[offers[choice.index]]
        assert q is not None
        assert q > 0
        assert all(other is None or other <= q for other in acceptable.values())
