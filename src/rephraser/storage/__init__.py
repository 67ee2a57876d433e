"""Storage: the one place that owns paths. Every stage opens, lists, globs, commits and removes through here.

A location is a plain local path (or file:// URL), kept as a `pathlib.Path` and served by os/pathlib —
no fsspec on the local fast path — or a remote URL (s3://, gs://, hf://, https://, any fsspec
protocol), kept as a `Url` and served by fsspec. Both support `/`, `.name`, `.parent`, `.relative_to`.

    from rephraser import storage
    out = storage.as_location(cfg.output.dir)          # Path or Url
    storage.write_json(out / "run.json", ident)        # committed whole or not at all
    for f in storage.glob(out / "data", "*/*.parquet"):
        with storage.open_read(f) as fh: ...
    storage.find(src)  -> sorted relative names of every file below a folder
    storage.write_many({loc: fill, ...})  # several files at once (concurrent PUTs), then a marker
    storage.conditional.lease_store(out / "leases")  # the lease backend for a local or remote folder

Optional libraries: s3fs (`rephraser[s3]`), gcsfs (`rephraser[gcs]`), huggingface_hub (`rephraser[hub]`);
a missing one is a one-line error naming the extra. Credentials come from each library's usual
environment/config and are never recorded; URLs that embed credentials are refused (location.py).
http(s):// and hf:// are read-only here.

What holds where (the commit protocol: unique part names, each file committed whole, the manifest
written last as the commit marker, uncommitted leftovers removed at start):

| guarantee                         | local FS                | POSIX shared FS (NFS, Lustre)          | S3-like object store               |
|-----------------------------------|-------------------------|----------------------------------------|------------------------------------|
| a file appears whole or not       | temp + fsync + rename   | same; rename is atomic on one server   | one PUT (multipart: on completion) |
| committed data survives a crash   | fsync file + folder     | fsync honoured per mount options       | PUT returns after durable storage  |
| a restart sees every commit       | yes                     | NFS close-to-open: yes once closed;    | yes (S3 is read-after-write        |
|                                   |                         | attribute caches may delay listings    | consistent, also for listings)     |
| create-if-absent (leases)         | temp file + link()      | link() is atomic on NFSv3+ and Lustre  | PUT If-None-Match: * (s3, verified |
|                                   |                         |                                        | on moto); other stores: advisory   |
| lease renewal                     | rename (holder only)    | rename (holder only)                   | PUT (the holder is the only writer |
|                                   |                         |                                        | of its record: no CAS needed)      |
| rename                            | atomic                  | atomic within one filesystem           | none (copy + delete): never used   |

The request cache is SQLite, which needs a local disk: for a remote output each worker keeps it under
`local_work_dir(out)` (REPHRASER_LOCAL_DIR, default ~/.cache/rephraser/remote/…). A restart on another
node starts with an empty cache and loses only cache hits (calls that finished after the shard's last
commit are paid again), never rows: rows exist only once their manifest is committed to the output.
"""

from rephraser.storage.files import (
    exists,
    find,
    find_sizes,
    folder_name,
    glob,
    is_dir,
    listdir,
    local_work_dir,
    makedirs,
    open_read,
    parquet_file,
    read_bytes,
    read_many,
    read_text,
    remove,
    remove_tree,
    size,
    stamp,
    sync_folder,
    table_writer,
    write_bytes,
    write_json,
    write_many,
    write_table,
    write_text,
    write_with,
)
from rephraser.storage.location import (
    Location,
    PathLike,
    Url,
    as_location,
    check_writable,
    is_remote,
    local_only,
    scheme_of,
)
from rephraser.storage.remote import filesystem, remote_errors

__all__ = [
    "Location", "PathLike", "Url", "as_location", "check_writable", "exists", "filesystem", "find", "find_sizes", "folder_name", "glob",
    "is_dir", "is_remote", "listdir", "local_only", "local_work_dir", "makedirs", "open_read", "parquet_file", "read_bytes", "read_many", "read_text",
    "remote_errors", "remove", "remove_tree", "scheme_of", "size", "stamp", "sync_folder", "table_writer", "write_bytes", "write_json",
    "write_many", "write_table", "write_text", "write_with",
]
