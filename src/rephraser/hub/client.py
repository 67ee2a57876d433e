"""The Hugging Face Hub as an output: the few huggingface_hub calls rephraser makes, as one-line errors.

huggingface_hub is an optional extra (`pip install "rephraser[hub]"`). The token is whatever the
library finds in its usual places (HF_TOKEN, `hf auth login`'s cached token); rephraser only asks
whether one exists and never reads, logs or stores it. Uploads of whole folders use the library's
resumable large-folder upload: `HfApi.upload_large_folder` where it exists (huggingface_hub 0.25-1.x),
else `HfApi.upload_folder`, which in huggingface_hub >= 2 is that upload (streamed, committed in
batches, resumed by running it again).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rephraser.errors import RephraserError

REPO_TYPE = "dataset"


class HubError(RephraserError):
    """The Hub refused or could not be reached; the message names the repo and the reason."""


def hub_api() -> Any:
    """An HfApi client (tests replace this function with a stand-in for the unreachable Hub)."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise HubError('pushing to the Hub needs huggingface_hub: pip install "rephraser[hub]"') from None
    return HfApi()


def require_token() -> None:
    try:
        from huggingface_hub import get_token
    except ImportError:
        raise HubError('pushing to the Hub needs huggingface_hub: pip install "rephraser[hub]"') from None
    if not get_token():
        raise HubError("no Hugging Face token found: set HF_TOKEN or run `hf auth login`")


@contextlib.contextmanager
def hub_errors(action: str, repo: str) -> Iterator[None]:
    """Any failure inside becomes HubError('cannot ACTION REPO: why') — one line, no token, no traceback."""
    try:
        yield
    except HubError:
        raise
    except Exception as e:  # noqa: BLE001 - the library raises many types; all become one line
        status = getattr(getattr(e, "response", None), "status_code", None)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        hint = {401: " (check the token)", 403: " (the token cannot write there)", 404: " (no such repo)",
                429: " (rate limited: retry later)"}.get(status or 0, "")
        raise HubError(f"cannot {action} {repo}: {first[:300]}{hint}") from None


class HubRepo:
    """One dataset repo on the Hub, through an HfApi-like client."""

    def __init__(self, repo: str, api: Any | None = None, revision: str | None = None):
        self.repo = repo
        self.api = api if api is not None else hub_api()
        self.revision = revision

    def ensure(self, private: bool) -> None:
        with hub_errors("create", self.repo):
            self.api.create_repo(self.repo, repo_type=REPO_TYPE, private=private, exist_ok=True)

    def files(self) -> set[str]:
        with hub_errors("list the files of", self.repo):
            return set(self.api.list_repo_files(self.repo, repo_type=REPO_TYPE, revision=self.revision))

    def upload_folder(self, folder: Path, private: bool) -> None:
        """Every file below `folder`, at the same relative path in the repo; resumable by calling it again."""
        with hub_errors("upload to", self.repo):
            large = getattr(self.api, "upload_large_folder", None)
            if large is not None:
                large(repo_id=self.repo, folder_path=str(folder), repo_type=REPO_TYPE, revision=self.revision,
                      private=private)
            else:
                self.api.upload_folder(repo_id=self.repo, folder_path=str(folder), repo_type=REPO_TYPE,
                                       revision=self.revision, commit_message="rephraser: data")

    def commit(self, files: dict[str, Path | bytes], message: str) -> None:
        """One commit adding `files` (path in repo -> local file or bytes)."""
        from huggingface_hub import CommitOperationAdd

        ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(v) if isinstance(v, Path) else v)
               for p, v in sorted(files.items())]
        with hub_errors("commit to", self.repo):
            self.api.create_commit(self.repo, operations=ops, commit_message=message, repo_type=REPO_TYPE,
                                   revision=self.revision)
