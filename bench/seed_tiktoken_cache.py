"""Seeds Python tiktoken's BPE cache from the encoding files that ship in Rust crates.

tiktoken downloads each encoding's `.tiktoken` file from a blob URL and keeps it in
`$TIKTOKEN_CACHE_DIR/<sha1 of the URL>`; it accepts a cached file only if its sha256 is
the one hard-coded in `tiktoken_ext.openai_public`. There is no network here, so this
script copies the very same files from crates that cargo has already fetched for this
workspace (bpe-openai ships `data/*.tiktoken.gz`, tiktoken-rs ships `assets/*.tiktoken`),
checks each against tiktoken's own expected sha256, and writes it where tiktoken looks.

Run with the virtualenv's Python (it imports tiktoken to learn the URLs and hashes):
    bench/.venv/bin/python bench/seed_tiktoken_cache.py --cache-dir DIR [ENCODING ...]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import sys

import tiktoken_ext.openai_public as openai_public

CRATES = {"bpe-openai": "data", "tiktoken-rs": "assets"}


def expected_blob(encoding: str) -> tuple[str, str]:
    """The (URL, sha256) tiktoken itself would download and verify for `encoding`."""
    seen: list[tuple[str, str]] = []
    original = openai_public.load_tiktoken_bpe

    def capture(url, expected_hash=None):
        seen.append((url, expected_hash))
        return {}

    openai_public.load_tiktoken_bpe = capture
    try:
        openai_public.ENCODING_CONSTRUCTORS[encoding]()
    finally:
        openai_public.load_tiktoken_bpe = original
    if len(seen) != 1 or not seen[0][1]:
        raise SystemExit(f"seed_tiktoken_cache: cannot tell which file tiktoken loads for {encoding}")
    return seen[0]


def crate_dirs(manifest_path: str) -> list[str]:
    """Folders of the crates in CRATES holding encoding files, found with `cargo metadata`."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--manifest-path", manifest_path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    dirs = []
    for package in json.loads(out)["packages"]:
        if package["name"] in CRATES:
            dirs.append(os.path.join(os.path.dirname(package["manifest_path"]), CRATES[package["name"]]))
    return sorted(dirs)


def candidates(dirs: list[str], encoding: str) -> list[str]:
    names = [f"{encoding}.tiktoken", f"{encoding}.tiktoken.gz"]
    return [os.path.join(d, n) for d in dirs for n in names if os.path.isfile(os.path.join(d, n))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument(
        "--manifest-path",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Cargo.toml"),
    )
    parser.add_argument("encodings", nargs="*", default=["o200k_base", "cl100k_base"])
    args = parser.parse_args()

    os.makedirs(args.cache_dir, exist_ok=True)
    dirs = crate_dirs(args.manifest_path)
    for encoding in args.encodings:
        url, want = expected_blob(encoding)
        target = os.path.join(args.cache_dir, hashlib.sha1(url.encode()).hexdigest())
        if os.path.exists(target):
            with open(target, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() == want:
                    print(f"seed_tiktoken_cache: {encoding} already seeded", file=sys.stderr)
                    continue
        for path in candidates(dirs, encoding):
            with open(path, "rb") as f:
                data = f.read()
            if path.endswith(".gz"):
                data = gzip.decompress(data)
            if hashlib.sha256(data).hexdigest() != want:
                print(f"seed_tiktoken_cache: {path} does not match sha256 {want}, skipped", file=sys.stderr)
                continue
            tmp = f"{target}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
            print(f"seed_tiktoken_cache: {encoding} <- {path} (sha256 {want[:16]}… verified)", file=sys.stderr)
            break
        else:
            raise SystemExit(
                f"seed_tiktoken_cache: no file with tiktoken's sha256 for {encoding} in {dirs}; "
                "run `cargo fetch` in the workspace first"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
