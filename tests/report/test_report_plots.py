"""Run-report plot functions: PNG out for documented inputs, None (no empty figure) when there is nothing to plot."""

from __future__ import annotations

from rephraser.report import plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_make_png_or_none() -> None:
    assert plots.compliance_plot({"faq": 0.5, "table": None}).startswith(PNG)
    assert plots.compliance_plot({"faq": None}) is None
    assert plots.length_ratio_plot({"faq": [0.5, 1.2, 0.9], "math": []}).startswith(PNG)
    assert plots.length_ratio_plot({}) is None
    assert plots.data_uri(b"abc") == "data:image/png;base64,YWJj"

