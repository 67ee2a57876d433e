"""The routing facts on real text, no model: how the language detector and the study's source filter
(examples/routes_source_filter.yaml) see the embedded Wikipedia extracts in English, French and Spanish.

    .venv/bin/python bench/bench_routing_facts.py [--docs 2000]    # writes bench/results/routing_facts.json

Per language: the first N extracts of that language's file in the wiki data package; the share the
detector names correctly (and what else it says), and the share of documents each route of the source
filter takes (the same Router `rephraser run` uses). Prints the figures and the docs' views.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import yaml
from figures import write_figure

from rephraser.records import Document
from rephraser.route_config import RoutingConfig
from rephraser.routing import Router
from rephraser.routing.features import detect_language
from rephraser.sources.wiki import wiki_data_path

FILES = {"en": "summaries_en-us.json", "fr": "summaries_fr-fr.json", "es": "summaries_es-es.json"}
POLICY = Path(__file__).resolve().parent.parent / "examples" / "routes_source_filter.yaml"
VIEWS = {"languages": {"rows": "languages", "columns": [
    ["language", "{lang}"], ["extracts", "{docs}"], ["detected right", "{correct:.1%}"], ["other answers", "{other}"],
    ["table (≥ 4 numbers)", "{numeric_facts:.0%}"], ["math (≥ 1)", "{numbers:.0%}"], ["faq (none)", "{default:.0%}"],
    ["routing µs/doc", "{us_per_doc:.0f}"]]}}


def texts(lang: str, n: int) -> list[str]:
    data = json.loads((wiki_data_path().parent / FILES[lang]).read_text(encoding="utf-8"))
    out = [v.get("extract") if isinstance(v, dict) else v for _, v in sorted(data.items())]
    return [t for t in out if isinstance(t, str) and t.strip()][:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    args = ap.parse_args()
    router = Router(RoutingConfig.model_validate(yaml.safe_load(POLICY.read_text(encoding="utf-8"))))
    rows = []
    for lang in FILES:
        docs = texts(lang, args.docs)
        said = Counter(detect_language(t)[0] for t in docs)
        t0 = time.perf_counter()
        routes = Counter(router.decide(Document(id=f"{lang}{i}", text=t)).route for i, t in enumerate(docs))
        us = (time.perf_counter() - t0) / len(docs) * 1e6
        other = ", ".join(f"{k} {v}" for k, v in said.most_common() if k != lang) or "–"
        rows.append({"lang": lang, "docs": len(docs), "correct": said[lang] / len(docs), "other": other,
                     **{r: routes[r] / len(docs) for r in ("numeric_facts", "numbers", "default")}, "us_per_doc": us})
        print(rows[-1])
    write_figure("routing_facts", {"languages": rows}, VIEWS, how=f"bench/bench_routing_facts.py --docs {args.docs}",
                 where="one core of the shared 2-core machine (the µs/doc column depends on its load)")


if __name__ == "__main__":
    main()
