#!/usr/bin/env python3
"""Produce reference results from real dbt-core + dbt-duckdb for a dbt project.

Usage:
    dbt_reference.py --project <dbt project dir> --out <result.json> [--work <scratch dir>]
                     [--dbt <path to dbt executable>] [--keep-work] [--network]

The project dir is a normal dbt project plus `steps.json`: a list of steps
    {"sql": "<DuckDB SQL run first>", "command": "build|run|seed|snapshot|test|...",
     "args": ["--select", "x", ...], "vars": {...}}
Every key is optional: a step without "command" (or with null) only runs its SQL. "command" may
have a subcommand ("docs generate", "run-operation" with the macro name in "args").
Environment: DANGO_DBT_VENV (venv dir), DANGO_DBT_STEP_TIMEOUT (seconds per dbt call, 900).

For each step: the SQL runs through the python `duckdb` package against <work>/warehouse.duckdb
(connection closed before dbt starts), then `dbt <command> --project-dir --profiles-dir [args]
[--vars json]` runs, then the whole database is snapshotted (every table and view outside
information_schema/pg_catalog, values rendered by DuckDB as CAST(col AS VARCHAR), rows sorted as
lists of strings, NULLs first) and run_results.json is condensed to {unique_id: {status, failures}}.

Output JSON: {"steps": [{"command", "exit_code", "tables", "results"}, ...], "versions": {...}}
(exit_code: dbt's exit status, null for SQL-only steps, -1 if killed by the timeout).
Times: dbt runs with TZ=<--tz> (default UTC) and the snapshot renders TIMESTAMPTZ in that zone.
Final target/manifest.json, the last step's run_results.json and catalog.json (from a closing
`dbt docs generate`) are copied to <out>.artifacts/.

A dbt step that fails (exit 1: failing test, model error; exit 2: compile/parse error) is recorded,
not raised. The script exits non-zero only on harness problems.

Runs under the pinned venv (/var/cache/dango/venv, or $DANGO_DBT_VENV; see
.ci/requirements-dbt.txt): started with another interpreter, it re-executes itself with the venv's
python, so the snapshotting duckdb is the one dbt uses (set DANGO_DBT_NO_REEXEC=1 to prevent).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_VENV = Path(os.environ.get("DANGO_DBT_VENV", "/var/cache/dango/venv"))

_venv_python = DEFAULT_VENV / "bin" / "python"
if (_venv_python.exists() and Path(sys.prefix).resolve() != DEFAULT_VENV.resolve()
        and not os.environ.get("DANGO_DBT_NO_REEXEC")):
    # Always use the pinned venv's duckdb: the same library that dbt writes the file with.
    os.execv(str(_venv_python), [str(_venv_python), *sys.argv])
try:
    import duckdb  # noqa: F401
except ImportError:
    sys.exit("dbt_reference.py: python package 'duckdb' not importable and no venv at "
             f"{DEFAULT_VENV} (create it from .ci/requirements-dbt.txt)")
import duckdb  # noqa: E402

SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")
STEP_TIMEOUT = int(os.environ.get("DANGO_DBT_STEP_TIMEOUT", "900"))  # seconds per dbt invocation
IGNORE_COPY = shutil.ignore_patterns("target", "dbt_packages", "logs", ".user.yml", "__pycache__")


def find_dbt(explicit: str | None) -> str:
    if explicit:
        return explicit
    here = Path(sys.executable).parent / "dbt"
    if here.exists():
        return str(here)
    venv = DEFAULT_VENV / "bin" / "dbt"
    if venv.exists():
        return str(venv)
    found = shutil.which("dbt")
    if not found:
        sys.exit("dbt_reference.py: no dbt executable found")
    return found


def read_profile_name(project_dir: Path) -> str:
    """The `profile:` of dbt_project.yml (or its `name:`), read without requiring PyYAML."""
    text = (project_dir / "dbt_project.yml").read_text()
    try:
        import yaml  # dbt depends on PyYAML, so it is in the venv

        data = yaml.safe_load(text) or {}
        return str(data.get("profile") or data["name"])
    except ImportError:
        name = None
        for line in text.splitlines():
            if line.startswith("profile:"):
                return line.split(":", 1)[1].strip().strip("'\"")
            if line.startswith("name:"):
                name = line.split(":", 1)[1].strip().strip("'\"")
        if name is None:
            raise
        return name


def write_profiles(work: Path, profile: str, db_path: Path) -> None:
    # JSON is valid YAML: no quoting problems with odd paths.
    profiles = {
        profile: {
            "target": "dev",
            "outputs": {
                "dev": {
                    "type": "duckdb",
                    "path": str(db_path),
                    "schema": "main",
                    "threads": 1,
                }
            },
        }
    }
    (work / "profiles.yml").write_text(json.dumps(profiles, indent=2) + "\n")


def qident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def snapshot_database(db_path: Path, tz: str) -> dict:
    """Every table and view of the warehouse (outside system schemas), rendered as VARCHAR."""
    out: dict = {}
    if not db_path.exists():
        return out
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        set_timezone(con, tz)
        rels = con.execute(
            """
            select schema_name, table_name, 'table' as kind from duckdb_tables()
             where database_name = current_database() and not temporary and not internal
            union all
            select schema_name, view_name, 'view' from duckdb_views()
             where database_name = current_database() and not temporary and not internal
            order by 1, 2
            """
        ).fetchall()
        for schema, name, kind in rels:
            if schema in SYSTEM_SCHEMAS:
                continue
            cols = con.execute(
                """
                select column_name, data_type from duckdb_columns()
                 where database_name = current_database() and schema_name = ? and table_name = ?
                 order by column_index
                """,
                [schema, name],
            ).fetchall()
            entry: dict = {"kind": kind, "columns": [[c, t] for c, t in cols]}
            if cols:
                select_list = ", ".join(f"CAST({qident(c)} AS VARCHAR)" for c, _ in cols)
                sql = f"SELECT {select_list} FROM {qident(schema)}.{qident(name)}"
            else:
                sql = None
            try:
                rows = con.execute(sql).fetchall() if sql else []
                rows = [list(r) for r in rows]
                rows.sort(key=lambda r: [(0, "") if v is None else (1, v) for v in r])
                entry["rows"] = rows
            except duckdb.Error as e:  # e.g. a view over a dropped table
                entry["rows"] = None
                entry["error"] = str(e).splitlines()[0]
            out[f"{schema}.{name}"] = entry
    finally:
        con.close()
    return out


def set_timezone(con, tz: str) -> None:
    """TIMESTAMPTZ values render in the session time zone: pin it (default UTC)."""
    try:
        con.execute(f"SET TimeZone = '{tz}'")
    except duckdb.Error:  # build without ICU: only UTC exists anyway
        pass


def condense_run_results(path: Path) -> dict:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {
        r["unique_id"]: {"status": r.get("status"), "failures": r.get("failures")}
        for r in data.get("results", [])
    }


def network_wrapper(allow_network: bool) -> list[str]:
    """Run dbt in an empty network namespace when possible, proving it needs no network."""
    if allow_network or shutil.which("unshare") is None:
        return []
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    except OSError:
        ok = False
    return ["unshare", "-n"] if ok else []


def dbt_env(tz: str = "UTC") -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_VERSION_CHECK": "false",
            "DBT_PARTIAL_PARSE": "false",
            "DBT_USE_COLORS": "false",
            "DBT_PRINTER_WIDTH": "120",
            "TZ": tz,  # DuckDB takes its session TimeZone from the OS zone
        }
    )
    # Never let a developer's profile or project env leak in.
    for k in ("DBT_PROFILES_DIR", "DBT_PROJECT_DIR", "DBT_TARGET", "DBT_PROFILE", "DBT_TARGET_PATH"):
        env.pop(k, None)
    return env


def run_dbt(dbt: str, wrapper: list[str], work: Path, command: str, args: list, vars_: dict | None,
            log_file: Path, profile: str, tz: str = "UTC") -> int:
    cmd = [*wrapper, dbt, *command.split(), "--project-dir", str(work), "--profiles-dir", str(work),
           "--profile", profile, "--target", "dev"]
    cmd += [str(a) for a in (args or [])]
    if vars_:
        cmd += ["--vars", json.dumps(vars_)]
    with open(log_file, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        try:
            proc = subprocess.run(cmd, cwd=str(work), env=dbt_env(tz), stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.write(f"\n[dbt_reference] killed after {STEP_TIMEOUT}s\n")
            return -1
    return proc.returncode


def compact_dumps(obj) -> str:
    """Indented JSON, with each list of scalars (a row, a column pair) kept on one line."""
    leaves: list[str] = []

    def walk(o):
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            if all(not isinstance(x, (list, dict)) for x in o):
                leaves.append(json.dumps(o, ensure_ascii=False))
                return f"\x00{len(leaves) - 1}\x00"
            return [walk(x) for x in o]
        return o

    text = json.dumps(walk(obj), indent=1, ensure_ascii=False)
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: leaves[int(m.group(1))], text)


def versions(dbt: str) -> dict:
    from importlib import metadata

    def v(pkg: str):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    out = {"dbt_core": v("dbt-core"), "dbt_duckdb": v("dbt-duckdb"), "duckdb": duckdb.__version__,
           "dbt_adapters": v("dbt-adapters")}
    if out["dbt_core"] is None:  # running outside dbt's venv: ask dbt's own interpreter
        py = Path(dbt).parent / "python"
        if py.exists():
            code = ("import json;from importlib import metadata as m;print(json.dumps({k: m.version(p)"
                    " for k,p in [('dbt_core','dbt-core'),('dbt_duckdb','dbt-duckdb'),"
                    "('dbt_adapters','dbt-adapters')]}))")
            res = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
            if res.returncode == 0:
                out.update(json.loads(res.stdout))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--work", type=Path, help="scratch dir (default: a fresh temp dir)")
    ap.add_argument("--dbt", help="dbt executable (default: the venv's)")
    ap.add_argument("--keep-work", action="store_true", help="keep the temp scratch dir")
    ap.add_argument("--network", action="store_true",
                    help="do not isolate dbt in an empty network namespace")
    ap.add_argument("--tz", default="UTC",
                    help="time zone for dbt (TZ) and for rendering TIMESTAMPTZ (default UTC)")
    ap.add_argument("--no-docs", action="store_true", help="skip the closing `dbt docs generate`")
    opts = ap.parse_args()

    project = opts.project.resolve()
    steps_file = project / "steps.json"
    if not (project / "dbt_project.yml").exists():
        sys.exit(f"dbt_reference.py: {project} has no dbt_project.yml")
    steps = json.loads(steps_file.read_text()) if steps_file.exists() else [{"command": "build"}]
    if not isinstance(steps, list):
        sys.exit("dbt_reference.py: steps.json must be a list")

    dbt = find_dbt(opts.dbt)
    wrapper = network_wrapper(opts.network)

    tmp_root = None
    if opts.work:
        scratch = opts.work.resolve()
        scratch.mkdir(parents=True, exist_ok=True)
    else:
        tmp_root = Path(tempfile.mkdtemp(prefix="dbt_reference_"))
        scratch = tmp_root
    work = scratch / "project"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(project, work, ignore=IGNORE_COPY)
    db_path = scratch / "warehouse.duckdb"
    for stale in (db_path, scratch / "warehouse.duckdb.wal"):
        if stale.exists():
            stale.unlink()
    logs = scratch / "logs"
    logs.mkdir(exist_ok=True)

    profile = read_profile_name(work)
    write_profiles(work, profile, db_path)
    target = work / "target"

    out_steps = []
    for i, step in enumerate(steps):
        sql = step.get("sql")
        if sql and sql.strip():
            con = duckdb.connect(str(db_path))
            try:
                set_timezone(con, opts.tz)
                con.execute(sql)
            finally:
                con.close()
        command = step.get("command")
        exit_code = None
        results: dict = {}
        if command:
            rr = target / "run_results.json"
            if rr.exists():
                rr.unlink()
            dbt_log = work / "logs" / "dbt.log"
            if dbt_log.exists():
                dbt_log.unlink()
            stem = f"step{i:02d}_{command.replace(' ', '_')}"
            exit_code = run_dbt(dbt, wrapper, work, command, step.get("args") or [],
                                step.get("vars"), logs / f"{stem}.log", profile, opts.tz)
            if dbt_log.exists():  # debug log: every SQL statement dbt sent to DuckDB
                shutil.copy(dbt_log, logs / f"{stem}.dbt.log")
            results = condense_run_results(rr)
            if rr.exists():
                shutil.copy(rr, logs / f"step{i:02d}_run_results.json")
        out_steps.append({
            "command": command,
            "exit_code": exit_code,
            "tables": snapshot_database(db_path, opts.tz),
            "results": results,
        })
        print(f"step {i}: {command or '(sql only)'} exit={exit_code} "
              f"results={len(results)} relations={len(out_steps[-1]['tables'])}", file=sys.stderr)

    # Artifacts: last step's run_results, then manifest + catalog from docs generate.
    art = Path(str(opts.out) + ".artifacts")
    if art.exists():
        shutil.rmtree(art)
    art.mkdir(parents=True)
    last_rr = target / "run_results.json"
    if last_rr.exists():
        shutil.copy(last_rr, art / "run_results.json")
    if not opts.no_docs:
        code = run_dbt(dbt, wrapper, work, "docs generate", [], None, logs / "docs_generate.log",
                       profile, opts.tz)
        if code != 0:
            print(f"dbt docs generate exited {code} (see {logs / 'docs_generate.log'})",
                  file=sys.stderr)
        if (target / "catalog.json").exists():
            shutil.copy(target / "catalog.json", art / "catalog.json")
    if (target / "manifest.json").exists():
        shutil.copy(target / "manifest.json", art / "manifest.json")
    for log in sorted(logs.glob("*")):
        shutil.copy(log, art / log.name)

    result = {"steps": out_steps, "versions": versions(dbt)}
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(compact_dumps(result) + "\n")
    print(f"wrote {opts.out} and {art}/", file=sys.stderr)

    if tmp_root and not opts.keep_work:
        shutil.rmtree(tmp_root, ignore_errors=True)
    elif tmp_root:
        print(f"scratch kept in {tmp_root}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
