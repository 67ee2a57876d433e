"""A writer frozen past its lease (SIGSTOP) while another node takes its shard over, on a local folder:
every unit is committed exactly once (tests/helpers/frozen_writer.py has the scenario)."""

from helpers.frozen_writer import run_frozen_writer_scenario


def test_a_frozen_writer_woken_after_a_takeover_loses_and_duplicates_nothing(tmp_path, fake_server):
    run_frozen_writer_scenario(tmp_path, fake_server, str(tmp_path / "out"))
