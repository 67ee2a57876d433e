"""`stats` by route: each route's counts and outcomes over its prompts and per prompt, and the share of
outputs without a digit (the study's measure of math problems built from documents without numbers)."""

from __future__ import annotations

from rephraser.postprocess.stats import compute_stats


def test_counts_outcomes_and_no_digit_share_by_route(make_run, mkrow):
    rows = [
        mkrow("a", prompt="math", gen="Tom has 3 apples and buys 2 more.", route="numbers", route_values='{"numbers":2}'),
        mkrow("b", prompt="math", gen="Tom has some apples.", route="numbers"),
        mkrow("c", prompt="faq", gen="Q: Why? A: Because.", route="default"),
        mkrow("c", prompt="math", status="rejected", gen="x", reason="empty output", route="default"),
        mkrow("d", prompt="faq", gen="Q: When? A: In 1990.", route="default"),
    ]
    s = compute_stats(make_run(rows), quality=False)
    routes = s["routes"]
    assert set(routes) == {"numbers", "default"}
    assert (routes["numbers"]["documents"], routes["numbers"]["ok"], routes["numbers"]["no_digit_share"]) == (2, 2, 0.5)
    assert routes["default"]["documents"] == 2 and routes["default"]["rejected"] == 1
    assert routes["default"]["prompts"]["faq"]["no_digit_share"] == 0.5
    assert s["prompts"]["math"]["no_digit_share"] == 0.5  # per prompt too, routes or not


def test_runs_without_routes_have_no_route_section(make_run, mkrow):
    s = compute_stats(make_run([mkrow("a", gen="Q: x? A: y.")]), quality=False)
    assert s["routes"] == {} and s["prompts"]["faq"]["no_digit_share"] == 1.0
