"""A stand-in for huggingface_hub.HfApi that keeps dataset repos in a local folder (the Hub is unreachable
from tests). It implements the five calls rephraser makes — create_repo, list_repo_files, upload_folder,
upload_large_folder (only when asked), create_commit — with the Hub's visible semantics: files land at
their path in the repo, a commit whose files are all unchanged is skipped, every commit is logged.
What it cannot show: rate limits, LFS/Xet transfer, concurrent commits from many machines.

Run as a script, it is `rephraser` with every HfApi replaced by this stand-in over $LOCAL_HUB_ROOT
(for tests that kill -9 the CLI): python local_hub.py run ...
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


class LocalHubApi:
    def __init__(self, root: str | Path, fail_commits: int = 0):
        self.root = Path(root)
        self.fail_commits = fail_commits  # the next N commits raise, as a Hub outage would

    def _repo(self, repo_id: str) -> Path:
        return self.root / "datasets" / repo_id

    def _log(self, repo_id: str, entry: dict) -> None:
        with open(self.root / "commits.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"repo": repo_id, "t": time.time(), **entry}) + "\n")

    def create_repo(self, repo_id: str, *, repo_type: str, private: bool, exist_ok: bool) -> str:
        assert repo_type == "dataset"
        repo = self._repo(repo_id)
        if repo.exists() and not exist_ok:
            raise FileExistsError(repo_id)
        if not repo.exists():
            repo.mkdir(parents=True)
            self._log(repo_id, {"create": True, "private": private})
        return f"https://huggingface.co/datasets/{repo_id}"

    def list_repo_files(self, repo_id: str, *, repo_type: str, revision: str | None = None) -> list[str]:
        repo = self._repo(repo_id)
        if not repo.is_dir():
            raise FileNotFoundError(f"404 Repository Not Found for url: .../{repo_id}")
        return sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())

    def _apply(self, repo_id: str, files: dict[str, bytes], message: str) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise ConnectionError("503 Service Unavailable (stand-in outage)")
        repo = self._repo(repo_id)
        changed = {p: b for p, b in files.items() if not (repo / p).is_file() or (repo / p).read_bytes() != b}
        if not changed:
            return  # the Hub skips a commit with no changes
        for p, data in changed.items():
            (repo / p).parent.mkdir(parents=True, exist_ok=True)
            (repo / p).write_bytes(data)
        self._log(repo_id, {"message": message, "files": sorted(changed)})

    def create_commit(self, repo_id: str, *, operations: list, commit_message: str, repo_type: str,
                      revision: str | None = None) -> None:
        files = {}
        for op in operations:
            src = op.path_or_fileobj
            files[op.path_in_repo] = src if isinstance(src, bytes) else Path(src).read_bytes()
        self._apply(repo_id, files, commit_message)

    def upload_folder(self, *, repo_id: str, folder_path: str, repo_type: str, revision: str | None = None,
                      commit_message: str | None = None) -> None:
        folder = Path(folder_path)
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
                 if p.is_file() and not p.relative_to(folder).as_posix().startswith(".cache/")}
        self._apply(repo_id, files, commit_message or "upload_folder")


if __name__ == "__main__":
    import rephraser.hub.client as client
    from rephraser.cli import main

    root = os.environ["LOCAL_HUB_ROOT"]
    client.hub_api = lambda: LocalHubApi(root, fail_commits=int(os.environ.get("LOCAL_HUB_FAIL_COMMITS", "0")))
    sys.argv = ["rephraser", *sys.argv[1:]]
    os.makedirs(root, exist_ok=True)
    main()
