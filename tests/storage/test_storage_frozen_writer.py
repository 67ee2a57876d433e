"""The frozen-writer scenario (tests/helpers/frozen_writer.py) on S3 (moto on loopback): a writer woken
after another node took its shard over adds no object that any reader takes, and every unit is
committed exactly once."""

from helpers.frozen_writer import run_frozen_writer_scenario


def test_a_frozen_writer_on_s3_loses_and_duplicates_nothing(s3, s3_env, tmp_path, fake_server, monkeypatch):
    monkeypatch.setenv("REPHRASER_LOCAL_DIR", str(tmp_path / "node-local"))
    run_frozen_writer_scenario(tmp_path, fake_server, f"{s3}/runs/frozen", env=s3_env)
