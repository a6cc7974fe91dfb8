"""The ``metalab`` command line: list, run, sweep, demo, bench, data, compare, cache, claims.

Exit codes: 0 success, 2 bad input (unknown experiment or option, invalid value, unreadable
data; nothing is computed), 1 any other failure (including divergence and Ctrl-C).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from metalab.errors import BadInput, Diverged
from metalab.version import __version__

console = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code. Called as the script
    (``argv`` None), an interrupt ends the process at once (``_interrupted``)."""
    script = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="metalab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"metalab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered experiments and benchmarks")
    p_run = sub.add_parser("run", help="run an experiment", add_help=False)
    p_run.add_argument("experiment")
    p_sweep = sub.add_parser("sweep", help="a grid of runs: --set OPTION=V1,V2 [--seeds N]",
                             add_help=False)
    p_sweep.add_argument("experiment")
    sub.add_parser("demo", help="the sinusoid experiment at its default settings (~2 min)",
                   add_help=False)
    p_bench = sub.add_parser("bench", help="run a benchmark", add_help=False)
    p_bench.add_argument("bench")
    p_data = sub.add_parser("data", help="fetch or verify the Omniglot release files")
    p_data.add_argument("action", choices=("fetch", "verify"))
    p_data.add_argument("dataset", nargs="?", default="omniglot", choices=("omniglot",))
    p_data.add_argument("--dir", type=Path, default=None,
                        help="data folder (default: $METALAB_DATA/omniglot, else the cache)")
    p_data.add_argument("--files", nargs="+", default=None,
                        help="release files (default: every pinned file)")
    p_data.add_argument("--base-url", default=None, help="mirror of the release")
    p_compare = sub.add_parser("compare", help="overlay the curves and summaries of runs")
    p_compare.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                           help="run folders, or folders holding runs (e.g. a sweep)")
    p_compare.add_argument("--out", type=Path, default=None,
                           help="output folder (default: runs/compare-TIME)")
    p_cache = sub.add_parser("cache", help="the persistent compilation cache: folder, size; "
                             "clear (METALAB_COMPILE_CACHE=off or a folder)")
    p_cache.add_argument("action", choices=("info", "clear"))
    p_claims = sub.add_parser("claims", help="the papers' claims decided by finished runs")
    p_claims.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                          help="run folders, or folders holding runs (e.g. a sweep)")
    p_claims.add_argument("--out", type=Path, default=None, help="also write the table here")
    if len(argv) == 2 and argv[0] in NAMED and argv[1] in ("-h", "--help"):
        return _choices(argv[0])
    args, rest = parser.parse_known_args(argv)
    if args.command in ("list", "data", "compare", "cache", "claims") and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command in ("run", "demo", "sweep", "bench"):
            from metalab.runs import compile_cache

            compile_cache.enable()  # before anything compiles
        if args.command == "list":
            return _list()
        if args.command == "demo":
            return _run("sinusoid", rest)
        if args.command == "bench":
            return _bench(args.bench, rest)
        if args.command == "data":
            return _data(args)
        if args.command == "compare":
            return _compare(args.runs, args.out)
        if args.command == "cache":
            return _cache(args.action)
        if args.command == "claims":
            return _claims(args.runs, args.out)
        if args.command == "sweep":
            from metalab.sweep import main as sweep

            if "-h" in rest or "--help" in rest:
                _sweep_help(args.experiment)
            return sweep(args.experiment, rest)
        return _run(args.experiment, rest)
    except BadInput as e:
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)  # paths unbroken
        return 2
    except Diverged as e:
        console.print(f"[red]diverged:[/red] {escape(str(e))}", soft_wrap=True)
        return 1
    except OSError as e:
        if e.errno not in UNWRITABLE:  # any other failure: exit 1 with the traceback
            console.print(traceback.format_exc())
            return 1
        console.print(f"[red]error:[/red] cannot write {escape(str(e.filename))} ({e.strerror}); "
                      "free space or fix the permissions, then continue with --resume",
                      soft_wrap=True)
        return 2
    except KeyboardInterrupt as e:
        return _interrupted(e.args[0] if e.args else None, script)
    except Exception:  # noqa: BLE001 - the CLI reports any failure with exit code 1
        console.print(traceback.format_exc())
        return 1


def _interrupted(folder: str | None, script: bool) -> int:
    """Ctrl-C: wait for the computations still running on the device, say how to continue
    (``folder``: the run or sweep folder, None before one was claimed),
    and (as the script) leave without the interpreter's teardown, which can crash while
    XLA's threads still hold work (a segmentation fault after Ctrl-C in an evaluation).
    Nothing is lost: files are written atomically, sinks closed while unwinding, and the
    kernel drops the run folder's lock."""
    try:
        if "jax" in sys.modules:
            import jax

            for array in jax.live_arrays():
                try:
                    array.block_until_ready()
                except Exception:  # noqa: BLE001 - deleted or failed: nothing to wait for
                    pass
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
        pass
    console.print("interrupted; no run folder was written, nothing to resume" if folder is None
                  else f"interrupted; continue with --resume {folder}", soft_wrap=True)
    if script:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    return 1


UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
"""Errors of a run folder that cannot be written: no space, a quota, read-only, permissions."""

NAMED = {"run": "EXPERIMENT", "sweep": "EXPERIMENT", "bench": "BENCH"}
"""Commands whose first argument names a registered experiment or benchmark."""


def _choices(command: str) -> int:
    """``metalab run|sweep|bench --help``: the usage and the names to choose from."""
    from metalab.bench import BENCHES
    from metalab.experiments import EXPERIMENTS, load_plugins

    load_plugins()
    registry = BENCHES if command == "bench" else EXPERIMENTS
    print(f"usage: metalab {command} {NAMED[command]} [options]   "
          f"(metalab {command} {NAMED[command]} --help: its options)\n")
    print("benchmarks:" if command == "bench" else "experiments:")
    for item in registry.values():
        print(f"  {item.name:<28} {item.description}")
    return 0


def _list() -> int:
    from metalab.bench import BENCHES
    from metalab.estimators import ESTIMATORS
    from metalab.experiments import EXPERIMENTS, load_plugins
    from metalab.learners import LEARNERS
    from metalab.tasks import TASKS

    load_plugins()
    width = max(map(len, [*EXPERIMENTS, *BENCHES]))
    print("experiments (metalab run NAME [--quick]; wall time on 2 CPU cores at the default "
          "budget / with --quick):")
    for e in EXPERIMENTS.values():
        times = f"~{e.expected_time} / " + (f"~{e.quick_time}" if e.quick_time else "?")
        print(f"  {e.name:<{width}}  {times:<29} {e.description}")
    print("benchmarks (metalab bench NAME [--json]):")
    for b in BENCHES.values():
        print(f"  {b.name:<{width}}  {b.description}")
    for title, registry in (("learners", LEARNERS), ("estimators", ESTIMATORS),
                            ("task families", TASKS)):
        print(f"{title}: {', '.join(registry)}")
    return 0


def _data(args: argparse.Namespace) -> int:
    """``metalab data fetch|verify``: exit 0 when every file is there and verified."""
    from metalab.runs import progress_bar
    from metalab.tasks import download

    folder = download.data_dir(args.dir)
    names = args.files or list(download.OMNIGLOT)
    unknown = sorted(set(names) - set(download.OMNIGLOT))
    if unknown:
        raise BadInput("--files", f"unknown files {unknown}; choose from "
                       f"{', '.join(download.OMNIGLOT)}")
    if args.base_url is not None and urlparse(args.base_url).scheme not in ("http", "https",
                                                                            "file"):
        raise BadInput("--base-url", f"{args.base_url!r} is not an http(s) or file URL; give "
                       f"the address of a mirror, e.g. {download.BASE_URL}")
    if args.action == "fetch":
        for name in names:
            with progress_bar(name, download.OMNIGLOT[name].size) as advance:
                download.fetch(name, folder, base_url=args.base_url or download.BASE_URL,
                               progress=advance)
    elif args.files is None:  # verify what is there
        names = [n for n in download.OMNIGLOT if (folder / n).exists()]
    problems = download.verify(folder, names)
    for name, problem in problems.items():
        print(f"{name}: {problem or 'ok'}")
    if not names or any(problems.values()):
        raise BadInput("--dir", f"{folder} does not hold verified copies of the files "
                       f"{'asked for' if args.files else 'found'}; run `metalab data fetch` "
                       "or put the official files there")
    allowed = usable(set(names))
    print(f"verified in {folder}; these files allow: {', '.join(allowed) or 'nothing yet'}")
    return 0


def usable(names: set[str]) -> list[str]:
    """What verified Omniglot files allow: the splits (``--split``) and the official runs."""
    from metalab.tasks.omniglot_splits import FULL, SMALL

    allowed = ["--split small"] if names & set(SMALL) else []
    allowed += ["--split standard", "--split vinyals"] if set(FULL) <= names else []
    return allowed + (["omniglot-oneshot-runs"] if "all_runs.zip" in names else [])


def _cache(action: str) -> int:
    """``metalab cache info|clear``: the compilation cache's folder, entries and size."""
    from metalab.runs import compile_cache

    if action == "clear":
        print(f"removed {compile_cache.clear()} files")
    print("  ".join(f"{k}={v}" for k, v in compile_cache.info().items()))
    return 0


def _compare(runs: list[Path], out: Path | None) -> int:
    """``metalab compare``: write ``compare.md``, ``summary.csv`` and curve PNGs to ``out``."""
    from metalab.runs.compare import compare

    out = out or Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and not out.is_dir():
        raise BadInput("--out", f"{out} is a file; give a new or empty folder")
    if out.exists() and any(out.iterdir()) and not (out / "compare.md").exists():
        raise BadInput("--out", f"{out} holds other files; give a new or empty folder")
    compared = compare(runs, out)
    print(f"compared {len(compared)} runs: {(out / 'compare.md').resolve()}")
    return 0


def _claims(runs: list[Path], out: Path | None) -> int:
    """``metalab claims``: print the claims of finished runs as one Markdown table."""
    from metalab.atomic import atomic_write
    from metalab.runs.scoreboard import collect, table

    if out is not None and (out.is_dir() or not out.parent.is_dir()):
        raise BadInput("--out", f"{out} is a folder or lies in none; give a file in an "
                       "existing folder")
    rows, notes = collect(runs)
    for note in notes:
        console.print(f"note: {escape(note)}", soft_wrap=True)
    text = table(rows)
    if out is not None:
        atomic_write(out, text)
    print(text, end="")
    return 0


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Options of every `metalab run NAME` besides the experiment's own fields."""

    out: Path | None = None
    """Run folder: a new or empty folder (default: runs/NAME-TIME)."""
    resume: Path | None = None
    """Continue the unfinished run in this folder with its saved settings (no other options)."""
    config: Path | None = None
    """JSON or YAML file of the experiment's fields, or a run's config.json; options override."""
    max_loss: float | None = None
    """Stop as diverged when the training loss exceeds this."""
    log: tuple[Literal["tensorboard", "wandb", "mlflow"], ...] = ()
    """Extra metric sinks fed from metrics.jsonl and given the run's settings (optional
    extras, e.g. metalab[tensorboard])."""
    wandb_project: str | None = None
    """W&B project of --log wandb (default: $WANDB_PROJECT, else metalab)."""
    wandb_entity: str | None = None
    """W&B entity (team or user) of --log wandb (default: $WANDB_ENTITY, else your default)."""
    figure_format: Literal["png", "pdf", "svg"] = "png"
    """File format of the run's figures (pdf and svg are vector graphics for papers)."""
    coordinator: str | None = None
    """Multi-process run: HOST:PORT of process 0 (with --num-processes, --process-id; not
    needed under SLURM). Every process runs the same command; process 0 writes the folder."""
    num_processes: int | None = None
    process_id: int | None = None


def _parse_config(cls: type, args: list[str], prog: str, description: str | None = None,
                  default: Any = None) -> Any:
    """Build ``cls`` from command-line options with tyro (exit 2 on an unknown option)."""
    import tyro

    if default is None:
        return tyro.cli(cls, args=args, prog=prog, description=description)
    return tyro.cli(cls, args=args, prog=prog, description=description, default=default)


def _unchecked_defaults(cls: type) -> Any:
    """``cls`` at its field defaults without ``__post_init__``: help shows the defaults even
    where they are not runnable as they stand (a data folder that is absent, a required
    ``--checkpoint``)."""
    instance = object.__new__(cls)
    for field in dataclasses.fields(cls):
        value = (field.default_factory() if field.default_factory is not dataclasses.MISSING
                 else field.default)
        object.__setattr__(instance, field.name, value)
    return instance


def _run_help(experiment: Any) -> None:
    """Print every option of ``metalab run NAME`` (run options and the experiment's fields)
    and exit 0, as tyro does for ``--help``."""
    import tyro

    from metalab.runs.seeds import SeedOptions, own_seeds

    parts = [("run", RunOptions), ("experiment", experiment.config)]
    parts += [] if own_seeds(experiment) else [("seeds", SeedOptions)]  # else its own --seeds
    fields = [(name, Annotated[cls, tyro.conf.OmitArgPrefixes],
               dataclasses.field(default=_unchecked_defaults(cls))) for name, cls in parts]
    combined = dataclasses.make_dataclass(f"{experiment.name}-options", fields, frozen=True)
    tyro.cli(combined, args=["--help"], prog=f"metalab run {experiment.name}",
             description=experiment.description)


def _sweep_help(name: str) -> None:
    """Print what ``metalab sweep NAME`` does and every option a point takes, then exit 0."""
    from metalab import sweep
    from metalab.experiments import EXPERIMENTS, load_plugins

    load_plugins()
    experiment = EXPERIMENTS[name]
    print(sweep.__doc__.strip() + "\n\nThe sweep's own options: --set OPTION=V1,V2 (repeat "
          "for a grid), --seeds N, --out DIR, --resume DIR. Every other option below is the "
          "experiment's, shared by every point (and any of them can be swept with --set).\n")
    _parse_config(experiment.config, ["--help"], f"metalab sweep {name}",
                  experiment.description, default=_unchecked_defaults(experiment.config))


def _run(name: str, argv: list[str]) -> int:
    import tyro

    from metalab.experiments import EXPERIMENTS, load_plugins
    from metalab.runs import sinks
    from metalab.runs.claim import MARKER, finished, open_run
    from metalab.runs.fields import check_values, refuse_overrides
    from metalab.runs.progress import watch_interrupts
    from metalab.runs.seeds import parse_seeds, record_seeds, run_seeds, scalars
    from metalab.training import compile_level, distributed
    from metalab.training.threads import check_platform, use_cpu_threads

    load_plugins()
    experiment = EXPERIMENTS[name]
    if "-h" in argv or "--help" in argv:
        _run_help(experiment)
    opts, rest = tyro.cli(RunOptions, args=argv, prog=f"metalab run {name}",
                          return_unknown_args=True)
    seeds, rest = parse_seeds(experiment, rest, resume=opts.resume)
    distributed.initialize(opts.coordinator, opts.num_processes, opts.process_id)
    # before anything starts the backend (parsing some configurations computes)
    compile_level.request(_started_level(opts.resume) if opts.resume is not None else
                          compile_level.QUICK if "--quick" in rest else None)
    check_platform()
    use_cpu_threads(small=experiment.small)
    if opts.resume is not None:
        config, out, settings = _resumed_config(experiment, opts, rest)
        if finished(out):
            console.print(f"{out} holds a finished run (summary.json, no {MARKER}); nothing "
                          "to resume, nothing written", soft_wrap=True)
            return 0
    else:
        base = _config_file(experiment, opts.config) if opts.config is not None else None
        given = _parse_config(experiment.config, rest, f"metalab run {name}",
                              experiment.description, default=base)
        config = given.resolved()
        refuse_overrides(given, config, rest)
        if "--out=" in argv or any(a == "--out" and not v.strip()
                                   for a, v in zip(argv, argv[1:], strict=False)):
            raise BadInput("--out", "is empty; give a folder for the run (or leave --out out "
                           "for runs/NAME-TIME)")
        out = opts.out or Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        settings = _run_settings(opts)
    check_values(config)
    max_loss = settings["max_loss"]
    if max_loss is not None and not 0 < max_loss < math.inf:
        raise BadInput("--max-loss", "must be a positive number (the largest loss accepted "
                       "before the run is stopped as diverged)")
    sinks.require(settings["log"])
    if experiment.check is not None:
        experiment.check(config)
    out = distributed.private_folder(out, opts.resume is not None)
    try:
        with watch_interrupts(), open_run(out, resume=opts.resume is not None,
                                          experiment=name, **settings) as rundir:
            rundir.write_config(name, config)
            record_seeds(rundir, seeds)
            console.print(f"[bold]{name}[/bold] -> {out}")
            start = time.perf_counter()
            summary = run_seeds(experiment, config, rundir, seeds)
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(str(out)) from e  # the folder to resume
    _print_summary(name, scalars(summary), time.perf_counter() - start, out)
    return 0


def _run_settings(opts: RunOptions) -> dict[str, Any]:
    """``open_run``'s settings from the command line; W&B options without ``--log wandb``
    are refused (they would be silently ignored)."""
    wandb = {k: v for k, v in (("project", opts.wandb_project),
                               ("entity", opts.wandb_entity)) if v is not None}
    for key, value in wandb.items():
        if not value.strip():
            raise BadInput(f"--wandb-{key}", "is empty; give a name or leave the option out")
    if wandb and "wandb" not in opts.log:
        raise BadInput(f"--wandb-{next(iter(wandb))}", "applies to the W&B sink only; add "
                       "--log wandb or drop the option")
    return {"max_loss": opts.max_loss, "log": opts.log,
            "log_options": {"wandb": wandb} if wandb else {},
            "figure_format": opts.figure_format}


def _config_file(experiment: Any, path: Path) -> Any:
    """The experiment's configuration from a JSON or YAML file of its fields, or from a run's
    ``config.json`` (or its folder; the fields sit under ``config``); ``BadInput`` naming
    ``--config``."""
    from metalab.runs.experiment import config_from_json

    if path.is_dir() and (path / "config.json").is_file():
        path = path / "config.json"
    if not path.is_file():
        raise BadInput("--config", f"{path} not found; give a JSON or YAML file of "
                       f"{experiment.name}'s fields (or a run's config.json)")
    values = _read_mapping(path)
    if isinstance(values, dict) and isinstance(values.get("config"), dict) \
            and "experiment" in values:
        if values["experiment"] != experiment.name:
            raise BadInput("--config", f"{path} is the config of a {values['experiment']!r} "
                           f"run, not {experiment.name!r}; give it to metalab run "
                           f"{values['experiment']}")
        values = values["config"]
    return config_from_json(experiment.config, values, "--config", str(path))


def _read_mapping(path: Path) -> Any:
    """The parsed content of a JSON file, or of a YAML one (``.yaml``/``.yml``); a file that
    is not text or repeats a key is refused (the last value would silently win)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as e:
        raise BadInput("--config", f"{path} cannot be read as a text file ({e}); give a "
                       "JSON or YAML file of settings") from e
    if path.suffix.lower() not in (".yaml", ".yml"):
        try:
            return json.loads(text, object_pairs_hook=_unique_keys)
        except ValueError as e:
            raise BadInput("--config", f"{path} is not valid JSON ({e}); fix the file") from e
    try:
        import yaml
    except ImportError as e:
        raise BadInput("--config", f"reading YAML needs PyYAML ({e}); pip install pyyaml, "
                       "or give the file as JSON") from e

    class UniqueKeys(yaml.SafeLoader):
        """PyYAML's safe loader, refusing a mapping that repeats a key."""

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        return _unique_keys([(loader.construct_object(k, deep=True),
                              loader.construct_object(v, deep=True)) for k, v in node.value])

    UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=UniqueKeys)
    except (yaml.YAMLError, ValueError) as e:
        raise BadInput("--config", f"{path} is not valid YAML ({e}); fix the file") from e


def _unique_keys(pairs: list[tuple[Any, Any]]) -> dict:
    """A mapping from key-value pairs; ``ValueError`` naming a repeated key."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def _started_level(folder: Path) -> int | None:
    """The LLVM level the run in ``folder`` started with (``config.json``'s environment), so
    it resumes at that level; None if unreadable (``_resumed_config`` then says why)."""
    try:
        return json.loads((folder / "config.json").read_text())["environment"][
            "llvm_opt_level"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _resumed_config(experiment: Any, opts: RunOptions,
                    rest: list[str]) -> tuple[Any, Path, dict[str, Any]]:
    """The configuration and ``open_run``'s settings (loss bound, sinks and their options,
    figure format) saved in the run folder being resumed; its checkpoints are checked
    readable before anything is written."""
    from metalab.runs.experiment import config_from_json
    from metalab.training.checkpoint import Checkpointer

    folder: Path = opts.resume
    if rest or opts.max_loss is not None or opts.config is not None or opts.log \
            or opts.wandb_project is not None or opts.wandb_entity is not None \
            or opts.figure_format != "png" or (opts.out is not None and opts.out != folder):
        raise BadInput("--resume", "takes the configuration from the run folder; pass no "
                       "other options")
    path = folder / "config.json"
    if not path.is_file():
        raise BadInput("--resume", f"{path} not found; give the folder of an earlier run "
                       "(a run stopped before writing it has nothing to resume: start anew)")
    try:
        payload = json.loads(path.read_text())
    except ValueError as e:
        raise BadInput("--resume", f"{path} is not valid JSON ({e}); restore it or start "
                       "a new run") from e
    if not isinstance(payload, dict) or payload.get("experiment") != experiment.name:
        found = payload.get("experiment") if isinstance(payload, dict) else None
        raise BadInput("--resume", f"{folder} is a {found!r} run, not {experiment.name!r}; "
                       f"resume it with metalab run {found} --resume {folder}")
    config = config_from_json(experiment.config, payload.get("config"), "--resume", str(path))
    for name in sorted(set(dataclasses.asdict(config)) - set(payload["config"])):
        console.print(f"note: {path} has no setting {name!r} (written by an earlier version); "
                      f"using its default {getattr(config, name)!r}", soft_wrap=True)
    for stage in sorted((folder / "checkpoints").glob("*/")):
        Checkpointer(stage).info()
    return config, folder, {"max_loss": payload.get("max_loss"),
                            "log": tuple(payload.get("log", ())),
                            "log_options": payload.get("log_options", {}),
                            "figure_format": payload.get("figure_format", "png")}


def _print_summary(name: str, summary: dict[str, float], seconds: float, out: Path) -> None:
    table = Table(title=f"{name}: summary ({seconds:.0f} s)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, f"{value:.4g}" if math.isfinite(value) else
                      f"not finite ({value}): see report.md")
    Console().print(table)
    print(f"run folder: {out.resolve()}")


def _bench(name: str, argv: list[str]) -> int:
    from metalab.bench import BENCHES
    from metalab.bench.base import stream_rows
    from metalab.training.threads import check_platform

    bench = BENCHES[name]
    check_platform()
    front = argparse.ArgumentParser(add_help=False)
    front.add_argument("--json", action="store_true")
    opts, rest = front.parse_known_args(argv)
    config = _parse_config(bench.config, rest, f"metalab bench {name}",
                           f"{bench.description}. --json: one JSON object per row on stdout.")
    rows = stream_rows(bench.rows(config), opts.json)
    if not opts.json and rows:
        table = Table(title=f"metalab bench {name}")
        columns = list(dict.fromkeys(k for row in rows for k in row))  # rows may differ
        for key in columns:
            table.add_column(key)
        for row in rows:
            table.add_row(*(str(row.get(k, "")) for k in columns))
        Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
