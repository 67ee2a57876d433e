"""A writer frozen past its lease (SIGSTOP) while another node takes its shard over, on a local folder:
every unit is committed exactly once (tests/helpers/frozen_writer.py has the scenario)."""

from helpers.frozen_writer import run_frozen_writer_scenario


def test_a_frozen_writer_woken_after_a_takeover_loses_and_duplicates_nothing(tmp_path, fake_server):
    run_frozen_writer_scenario(tmp_path, fake_server, str(tmp_path / "out"))


def test_a_deleted_leases_folder_never_locks_a_fenced_shard(tmp_path, fake_server):
    """Lease generations are epochs: a new lease starts above every fence, even when leases/ was deleted."""
    import shutil

    from helpers import cli, fake_run_args, write_corpus

    url = fake_server()
    out = tmp_path / "out"
    cli(*fake_run_args(url, write_corpus(tmp_path / "in.jsonl", 4), out))
    cli(*fake_run_args(url, write_corpus(tmp_path / "in.jsonl", 6), out))  # a second writer: epoch 2
    shutil.rmtree(out / "leases")
    p = cli(*fake_run_args(url, write_corpus(tmp_path / "in.jsonl", 8), out))
    assert "accounting OK" in p.stdout
    assert [f.name for f in (out / "manifests" / "s00000-of-00001").glob("fence-*")] == ["fence-e000003.json"]
