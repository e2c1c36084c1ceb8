"""``connectord connectors install``: a connector package put where the README says it goes,
the safe way by default.

``pip install`` of a package into the server's own environment lets it add files that every
interpreter of that environment runs at its start (a ``.pth`` file's ``import`` line), the
server included; and ``pip`` builds a source distribution by running its code, as whoever
runs ``pip``. This command installs wheels only (``--only-binary :all:``, and a local
directory, a source archive or a VCS URL is refused before ``pip`` sees it: ``pip`` builds
those whatever ``--only-binary`` says), into a directory of its own outside the server's
import path (``--target``), which ``CONNECTORD_CONNECTOR_PATH`` then names.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from connectord.cli.exits import CONFIGURATION, INSTALL_FAILED, OK, USAGE, CliError
from connectord.plugins.manager import ENTRY_POINT_GROUP, directory_sources
from connectord.runtime.config import ENV_PREFIX

PATH_SETTING = ENV_PREFIX + "CONNECTOR_PATH"


def register(sub: argparse._SubParsersAction) -> None:
    install = sub.add_parser(
        "install",
        help="install connector wheels into a directory of their own",
        description=(
            "Install connector packages (wheels only: no build code runs) and their dependencies "
            "into DIR, outside the server's environment, then list the connectors found there. "
            f"Name DIR in {PATH_SETTING} (one directory per connector) and reload the server "
            "(connectord components reload)."
        ),
    )
    install.add_argument(
        "specs",
        nargs="+",
        metavar="SPEC",
        help="a requirement (name, name==1.2) found on the index, or a wheel's path or URL (.whl)",
    )
    install.add_argument(
        "--into", required=True, type=Path, metavar="DIR", help="the connector's own directory"
    )
    install.add_argument("--index-url", metavar="URL", help="the package index (pip's --index-url)")
    install.add_argument(
        "--find-links", action="append", default=[], metavar="PATH", help="where else to look for wheels"
    )
    install.add_argument("--no-index", action="store_true", help="look only where --find-links says")
    install.set_defaults(run=run_install)


def run_install(args: argparse.Namespace) -> int:
    for spec in args.specs:
        if problem := spec_problem(spec):
            raise CliError(problem, USAGE)
    target = args.into.resolve()
    if problem := target_problem(target, sys.prefix, [Path(p) for p in sys.path if p]):
        raise CliError(problem, USAGE)
    command = pip_command(args.specs, target, args.index_url, args.find_links, args.no_index)
    if subprocess.run(command, check=False).returncode != 0:
        specs = " ".join(args.specs)
        raise CliError(f"pip could not install {specs} into {target} (its output is above)", INSTALL_FAILED)
    found = directory_sources(str(target))
    if not found:
        raise CliError(
            f"{target} holds no connector: no package there has an entry point in group "
            f"'{ENTRY_POINT_GROUP}'",
            CONFIGURATION,
        )
    for source in found:
        print(f"installed connector '{source.name}': {source.origin}")
    print(path_advice(target, os.environ.get(PATH_SETTING, "")))
    return OK


def spec_problem(spec: str) -> str | None:
    """Why ``spec`` is not installed: pip builds (runs the code of) a local directory, a source
    archive and a VCS or direct URL whatever ``--only-binary`` says; only a wheel comes as is."""
    if spec.startswith("-"):
        return f"'{spec}' is an option, not a package: this command takes requirements and wheels"
    located = "://" in spec or "@" in spec or os.sep in spec or spec.startswith(".") or os.path.exists(spec)
    if located and not _location(spec).endswith(".whl"):
        return (
            f"'{spec}' is not a wheel: pip would build it, running its code; build a wheel "
            "(python -m build --wheel) where that is safe and install the .whl"
        )
    return None


def _location(spec: str) -> str:
    """The file a path, URL or ``name @ URL`` points to, without a URL's query or fragment."""
    scheme, at = spec.find("://"), spec.find("@")
    if at != -1 and (scheme == -1 or at < scheme):  # a direct reference: name @ URL
        spec = spec[at + 1 :]
    return spec.strip().split("#", 1)[0].split("?", 1)[0].lower()


def target_problem(target: Path, prefix: str, import_path: Sequence[Path]) -> str | None:
    """Why ``target`` is no place for connectors: inside the server's environment or on its
    import path, a package there is imported by the server itself."""
    inside = [Path(prefix).resolve(), *(p.resolve() for p in import_path)]
    for place in inside:
        if target == place or place in target.parents:
            return (
                f"{target} is inside the server's environment or import path ({place}): "
                "choose a directory outside it"
            )
    return None


def pip_command(
    specs: Sequence[str], target: Path, index_url: str | None, find_links: Sequence[str], no_index: bool
) -> list[str]:
    # -I: pip runs as this environment says, not as a PYTHONPATH or the user's site would.
    command = [sys.executable, "-I", "-m", "pip", "install", "--target", str(target)]
    command += ["--only-binary", ":all:", "--upgrade", "--no-warn-script-location"]
    if index_url:
        command += ["--index-url", index_url]
    for place in find_links:
        command += ["--find-links", place]
    if no_index:
        command.append("--no-index")
    return [*command, *specs]


def path_advice(target: Path, current: str) -> str:
    """What to set so the server reads ``target``, or that it already does."""
    listed = [os.path.abspath(entry) for entry in current.split(os.pathsep) if entry]
    if str(target) in listed:
        return f"{PATH_SETTING} names {target}: reload a running server (connectord components reload)"
    value = ":".join([*listed, str(target)])
    return f"then serve with {PATH_SETTING}={value} (a running server: set it and restart)"
