"""Routes in the run config: the YAML shape, one-line errors at load time, and the fingerprint (a run
without routes keeps the fingerprint it had before routing existed)."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from rephraser.config import RunConfig, load_yaml, validate
from rephraser.errors import ConfigError

POLICY = """
routing:
  routes:
    - name: numeric_facts
      when: {numbers: 4}
      prompts: [table]
    - name: numbers
      when: {numbers: {min: 1}, not: {table: true}}
      prompts: {math: 2, faq: 1}
  default: {prompts: [faq]}
"""


def _cfg(text: str) -> RunConfig:
    return validate(yaml.safe_load(text), RunConfig, origin="run.yaml")


def test_fingerprint_without_routes_is_unchanged():
    # The pinned value of the default config lives in tests/test_records.py; here: routes absent (or None)
    # add nothing to the fields a fingerprint hashes, so every existing run folder still resumes.
    plain = RunConfig(prompts=["faq", "math"], sampling={"seed": 3})
    assert "routing" not in plain.outcome_fields() and "routing" not in RunConfig().outcome_fields()
    blob = json.dumps(plain.outcome_fields(), sort_keys=True).encode()
    assert plain.fingerprint() == hashlib.sha256(blob).hexdigest()[:16]
    assert RunConfig(prompts=["faq", "math"], sampling={"seed": 3}, routing=None).fingerprint() == plain.fingerprint()


def test_routes_are_part_of_the_fingerprint_and_round_trip_through_config_yaml():
    cfg = _cfg(POLICY)
    assert cfg.prompts == ["table", "math", "faq"]  # no `prompts:`: the routes' prompts, in first-seen order
    again = RunConfig.model_validate(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg and again.fingerprint() == cfg.fingerprint()
    assert "not" in cfg.to_yaml() and "has_table" not in cfg.to_yaml()  # written with the YAML keys
    other = _cfg(POLICY.replace("numbers: 4", "numbers: 5"))
    assert other.fingerprint() != cfg.fingerprint() != RunConfig(prompts=cfg.prompts).fingerprint()
    how = cfg.model_copy(deep=True)
    how.routing.score_batch = 7  # how scores are computed, not which: same run
    assert how.fingerprint() == cfg.fingerprint()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("numbers: 4", "numbers: {min: 9, max: 2}", "min 9.0 is above max 2.0"),
    ("numbers: 4", "colour: red", "routing.routes.0.when.colour: Extra inputs are not permitted"),
    ("numbers: 4", "regex: '(unclosed'", "not a valid regular expression"),
    ("numbers: 4", "function: no_colon", "package.module:function"),
    ("numbers: 4", "score: {edu: 3}", "unknown classifier 'edu'"),
    ("when: {numbers: 4}", "when: {}", "an empty condition"),
    ("prompts: [table]", "prompts: []", "at least one prompt"),
    ("prompts: [table]", "prompts: [table]\n      pick: 2", "pick 2 is more than the 1 prompt"),
    ("{math: 2, faq: 1}", "{math: 0, faq: 1}", "weights must be > 0"),
    ("name: numbers", "name: numeric_facts", "route names must be unique"),
    ("name: numbers", "name: default", "not be 'default'"),
    ("routing:", "prompts: [faq, math]\nrouting:", "routing names prompt 'table', which is not in prompts"),
])
def test_bad_routes_are_one_line_errors(tmp_path, old, new, message):
    assert old in POLICY
    path = tmp_path / "run.yaml"
    path.write_text(POLICY.replace(old, new, 1))
    with pytest.raises(ConfigError) as e:
        load_yaml(path)
    first = str(e.value).splitlines()[0]  # one line (the project's errors may quote the YAML line under it)
    assert message in first and str(path) in first
