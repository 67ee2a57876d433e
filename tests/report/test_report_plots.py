"""Plot functions: PNG out for documented inputs, None (no empty figure) when there is nothing to plot."""

from __future__ import annotations

from rephraser.report import plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_make_png_or_none() -> None:
    assert plots.compliance_plot({"faq": 0.5, "table": None}).startswith(PNG)
    assert plots.compliance_plot({"faq": None}) is None
    assert plots.length_ratio_plot({"faq": [0.5, 1.2, 0.9], "math": []}).startswith(PNG)
    assert plots.length_ratio_plot({}) is None
    scores = [{"cell": "a", "seed": s, "macro": 0.1 + s / 100} for s in range(3)] + [{"cell": "b", "seed": 0, "macro": 0.2}]
    assert plots.macro_by_cell_plot(scores).startswith(PNG)
    assert plots.macro_by_cell_plot([{"cell": "a", "seed": 0, "macro": float("nan")}]) is None
    assert plots.category_plot({"a": {"GK": 0.1, "RC": 0.2}, "b": {"GK": 0.3}}).startswith(PNG)
    assert plots.category_plot({}) is None
    pts = [{"series": "table", "ratio": r, "macro": 0.1 + r / 10} for r in (0.3, 0.5, 0.7, 0.7)]
    assert plots.mix_ratio_plot(pts).startswith(PNG)
    assert plots.mix_ratio_plot([{"series": "x", "ratio": None, "macro": 1}]) is None
    curve = [{"step": s, "tokens": 10 * s, "loss": 3 / s, "heldout_loss": 3.1 / s if s % 2 else None, "bpb": 1 / s}
             for s in range(1, 5)]
    assert plots.training_curves_plot({"run": curve, "steps-only": [{"step": 1, "loss": 2.0}]}).startswith(PNG)
    assert plots.training_curves_plot({"empty": []}) is None
    assert plots.data_uri(b"abc") == "data:image/png;base64,YWJj"
