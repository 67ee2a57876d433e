"""Streaming the documents of one mixture component, batch by batch, in a fixed order.

A component is either a rephraser output folder (its `data/<prompt>/*.parquet` rows, where only
status=ok rows live; the `generation` column is the training text) or a source of original
documents read with `rephraser.sources.iter_source`, so every source format and validation rule
of `rephraser run` applies here too. Nothing is dropped silently: skipped rows are counted with
their reason and reported in the mix manifest.

The mixer reads a component twice (count, then take), so a reader never holds more than one batch:
document j is the j-th document of `batches()` on every pass. The file list is fixed when the
reader is opened and each file's size and mtime are checked on the second pass, so a run folder that
gains parts while it is mixed is read the same both times, and a changed file is an error. Of a run
folder with manifests, only committed parts are read (a part without its manifest is not output yet).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from rephraser import storage
from rephraser.config import SourceConfig
from rephraser.errors import ConfigError, SourceError
from rephraser.mix.config import MixComponent
from rephraser.records import Rejection, metadata_dict, source_license
from rephraser.run_folder import committed_files
from rephraser.sources import iter_source
from rephraser.storage import Location

BATCH_DOCS = 4096
REPHRASED_COLUMNS = ["id", "sample", "prompt", "generation", "status", "source_metadata"]


@dataclass
class DocBatch:
    texts: pa.Array  # string, no nulls
    origin_ids: pa.Array  # string
    licenses: list[str | None] | None = None  # each document's source licence (None: not stated)


def licenses_of(metadata: pa.Array) -> list[str | None]:
    """The `license` of each row's source_metadata, as a struct (this release) or JSON text (earlier files)."""
    if pa.types.is_struct(metadata.type):
        names = [metadata.type.field(i).name for i in range(metadata.type.num_fields)]
        if "license" in names:
            return [None if v is None else str(v) for v in pc.struct_field(metadata, "license").to_pylist()]
    if pa.types.is_null(metadata.type):
        return [None] * len(metadata)
    return [None if (v := source_license(metadata_dict(m))) is None else str(v) for m in metadata.to_pylist()]


@dataclass
class ComponentReader:
    label: str
    kind: str
    path: str
    skipped: Counter[str] = field(default_factory=Counter)

    def batches(self) -> Iterator[DocBatch]:
        raise NotImplementedError


def open_component(c: MixComponent) -> ComponentReader:
    if c.resolved_kind() == "rephrased":
        return RephrasedReader(c.label(), "rephrased", c.path, files=_rephrased_files(c))
    return SourceReader(c.label(), "source", c.path, text_column=c.text_column)


def no_documents_error(reader: ComponentReader) -> SourceError:
    why = ", ".join(f"{n} {r}" for r, n in reader.skipped.items()) or "no rows"
    return SourceError(f"component {reader.label} ({reader.path}) has no usable documents ({why})")


def _rephrased_files(c: MixComponent) -> list[Location]:
    data = storage.as_location(c.path) / "data"
    prompts = [n for n in storage.listdir(data) if not n.startswith(".") and storage.is_dir(data / n)]
    if not prompts and not storage.is_dir(data):
        raise SourceError(f"{c.path} is not a rephraser output folder (no data/ folder)")
    if c.prompt:
        if c.prompt not in prompts:
            raise ConfigError(f"{c.path} has no prompt {c.prompt!r} (has: {', '.join(prompts) or 'none'})")
        files = storage.glob(data / c.prompt, "*.parquet")
    else:
        files = storage.glob(data, "*/*.parquet")
    # A folder a run is still writing (or that a crash left) may hold parts whose manifest was never
    # written: those are not output yet and may be replaced on restart, so only committed parts count.
    committed = committed_files(c.path)
    if committed:
        root = storage.as_location(c.path)
        files = [f for f in files if str(f.relative_to(root)) in committed]
    return files


@dataclass
class RephrasedReader(ComponentReader):
    files: list[Location] = field(default_factory=list)
    _stamps: dict[str, tuple[int, str]] = field(default_factory=dict)

    def batches(self) -> Iterator[DocBatch]:
        self.skipped.clear()  # counted again on every pass: the manifest reports one pass
        for f in self.files:
            self._check_unchanged(f)
            try:
                with storage.parquet_file(f) as pf:
                    for batch in pf.iter_batches(batch_size=BATCH_DOCS, columns=REPHRASED_COLUMNS):
                        yield from self._keep(batch)
            except (pa.ArrowException, OSError) as e:
                raise SourceError(f"cannot read {f}: {str(e).splitlines()[0]}") from None

    def _check_unchanged(self, f: Location) -> None:
        try:
            stamp = storage.stamp(f)
        except OSError as e:
            raise SourceError(f"cannot read {f}: {e.strerror or e}") from None
        if self._stamps.setdefault(str(f), stamp) != stamp:
            raise SourceError(f"{f} changed while the mixture was being built; mix again")

    def _keep(self, batch: pa.RecordBatch) -> Iterator[DocBatch]:
        status, generation = batch.column("status"), batch.column("generation")
        ok = pc.fill_null(pc.equal(status, "ok"), False)
        usable = pc.and_(ok, pc.fill_null(pc.greater(pc.binary_length(generation), 0), False))
        if not pc.all(usable).as_py():
            # Few rows are skipped (data/ holds ok rows), so name them one by one, in row order.
            for st, gen, use in zip(status.to_pylist(), generation.to_pylist(), usable.to_pylist(), strict=True):
                if not use:
                    self.skipped["empty generation" if st == "ok" and not gen else f"status={st}"] += 1
            batch = batch.filter(usable)
        if batch.num_rows == 0:
            return
        origin = pc.binary_join_element_wise(
            batch.column("prompt"), ":", batch.column("id"), "#", pc.cast(batch.column("sample"), pa.string()), ""
        )
        yield DocBatch(batch.column("generation"), origin, licenses_of(batch.column("source_metadata")))


@dataclass
class SourceReader(ComponentReader):
    text_column: str = "text"

    def batches(self) -> Iterator[DocBatch]:
        self.skipped.clear()
        is_wiki = self.path == "wiki"
        cfg = SourceConfig(path=None if is_wiki else self.path, text_column=self.text_column)
        texts: list[str] = []
        ids: list[str] = []
        licenses: list[str | None] = []
        # A mixture samples texts; it does not need ids to be unique, and tracking them would cost
        # memory per document, so repeats are mixed as they come.
        for item in iter_source(cfg, unique_ids=False):
            if isinstance(item, Rejection):
                self.skipped[f"rejected: {item.reason}"] += 1
            elif not item.text:
                self.skipped["empty text"] += 1
            else:
                texts.append(item.text)
                ids.append(item.id)
                lic = source_license(item.metadata)
                licenses.append(None if lic is None else str(lic))
                if len(texts) >= BATCH_DOCS:
                    yield DocBatch(pa.array(texts, pa.string()), pa.array(ids, pa.string()), licenses)
                    texts, ids, licenses = [], [], []
        if texts:
            yield DocBatch(pa.array(texts, pa.string()), pa.array(ids, pa.string()), licenses)
