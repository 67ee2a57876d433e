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


def test_generator_plot_and_discovery(tmp_path) -> None:
    import json

    from rephraser.report.experiment import load_experiment

    for cell, gen, prompt, base in (("base", None, None, "source_only"), ("faq-smol/mix50", "smol", "faq", None),
                                    ("cont-gem/mix50", "gem", "continue", None)):
        for seed in (0, 1):
            d = tmp_path / "cells" / cell / f"seed{seed}"
            d.mkdir(parents=True)
            general = {"seed": seed, "generator": gen, "prompt": prompt, "baseline": base}
            (d / "results.json").write_text(json.dumps({"macro": 0.1 + seed / 100, "config_general": general}))
    exp = load_experiment(tmp_path)
    assert {(s["generator"], s["prompt"]) for s in exp.generator_points} == {("smol", "faq"), ("gem", "continue")}
    assert len(exp.generator_points) == 4
    baselines = [s for s in exp.scores if s.get("baseline")]
    assert len(baselines) == 2
    assert plots.generator_plot(exp.generator_points, baselines).startswith(PNG)
    assert plots.generator_plot([]) is None
