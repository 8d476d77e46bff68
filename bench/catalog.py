"""Catalog and compiler figures: import time and peak memory per reference description, storage time,
cold compile time and tools/list payload size for 30- and 358-API servers, and the cached payload time.

Run from the project root:  .venv/bin/python bench/catalog.py   (or `make bench`)
Storage goes to a throwaway SQLite database (or DATABASE_URL when --database-url is given).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT.parent / "shared" / "specs"
sys.path.insert(0, str(ROOT))

COMMAND = ".venv/bin/python bench/catalog.py"


def best_of(n: int, fn):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(n):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def peak_mib(fn) -> float:  # type: ignore[no-untyped-def]
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def setup_django(database_url: str | None) -> None:
    if database_url is None:
        scratch = tempfile.mkdtemp(prefix="bench-catalog-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        database_url = "sqlite:///" + str(Path(scratch) / "db.sqlite3")
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="store into this database instead of a temporary SQLite file")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per figure (best is shown)")
    args = parser.parse_args()

    from servers.catalog import import_bytes
    from servers.compiler import CompiledCache, compile_server, compile_server_cached

    files = sorted(p for p in SPECS.glob("*/*") if p.suffix in (".json", ".yml", ".yaml"))
    setup_django(args.database_url)
    from servers.catalog.services import catalog_import

    print(f"Reproduce with: {COMMAND}" + (f" --database-url {args.database_url}" if args.database_url else ""))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("Import (read + parse + normalise; pure) and store (catalog_import into the database, incl. diff):")
    print(f"{'file':46} {'size':>8} {'APIs':>5} {'import':>9} {'peak mem':>9} {'store':>9}")
    results = {}
    for path in files:
        data = path.read_bytes()
        seconds, result = best_of(args.repeat, lambda data=data, path=path: import_bytes(data, source=str(path)))
        peak = peak_mib(lambda data=data, path=path: import_bytes(data, source=str(path)))
        start = time.perf_counter()
        catalog_import(source=str(path))
        stored = time.perf_counter() - start
        results[path.relative_to(SPECS).as_posix()] = result
        print(
            f"{path.relative_to(SPECS).as_posix():46} {len(data) / 2**20:6.1f}MB {result.api_count:5d} "
            f"{seconds * 1000:7.0f}ms {peak:7.0f}MB {stored * 1000:7.0f}ms"
        )

    print("\nCompile (pure compiler, documents in memory):")
    print(f"{'server':44} {'tools':>5} {'cold':>9} {'payload':>10} {'cached payload':>15}")
    ecs = results["alibaba/ecs-2014-05-26.json"]
    github = results["openapi/github.json"]
    ecs_30 = sorted(ecs.document["apis"])[:30]
    github_30 = [n for n in sorted(github.document["apis"]) if n.startswith("repos_")][:30]
    cases = [
        ("Ecs, 30 APIs", ecs, ecs_30, False),
        ("Ecs, 30 APIs, output schemas", ecs, ecs_30, True),
        ("Ecs, all 358 APIs", ecs, ["*"], False),
        ("GitHub, 30 APIs (repos_*), output schemas", github, github_30, True),
    ]
    for label, result, selectors, outputs in cases:
        apis = [{"product": result.product, "apiVersion": result.version, "selectors": selectors}]
        names = [n for n in sorted(result.document["apis"]) if selectors == ["*"] or n in selectors]
        extra = (
            [
                {"product": result.product, "apiVersion": result.version, "apiName": n, "enableOutputSchema": True}
                for n in names
            ]
            if outputs
            else []
        )
        server = {"id": label, "version": 1, "language": "EN_US", "apis": apis, "additionalApiDescriptions": extra}
        catalog = {(result.product, result.version): result.document}
        cold, compiled = best_of(args.repeat, lambda s=server, c=catalog: compile_server(s, c))
        cache = CompiledCache()
        compile_server_cached(server, catalog, revision_ids=[1], cache=cache)
        rounds = 20_000
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(rounds):
                compile_server_cached(server, catalog, revision_ids=[1], cache=cache).tools_json  # noqa: B018
            samples.append((time.perf_counter() - start) / rounds)
        cached = statistics.median(samples)
        print(
            f"{label:44} {len(compiled.tools):5d} {cold * 1000:7.1f}ms {len(compiled.tools_json) / 1024:8.0f}KB "
            f"{cached * 1e6:12.2f}µs"
        )
    print("\nTargets: github.json imports in under 2 s; a cached tools/list payload (30 APIs) in well under 1 ms.")


if __name__ == "__main__":
    main()
