"""``tabmon definition``: check an election definition, list the built-in ones."""

from __future__ import annotations

import argparse
import sys

from monitor.election.definition import Definition
from monitor.election.load import DefinitionError, builtin_names, load


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("definition", help="check an election definition, or list the built-in ones")
    what = p.add_subparsers(dest="definition_command", required=True, metavar="ACTION")
    c = what.add_parser("check", help="validate a definition file (YAML or JSON) or a built-in name")
    c.add_argument("definition", help="a file, or a built-in name: " + ", ".join(builtin_names()))
    c.set_defaults(func=cmd_check)
    ls = what.add_parser("list", help="the built-in definitions")
    ls.set_defaults(func=cmd_list)
    am = what.add_parser("alertmanager", help="print the Alertmanager routing of a definition's desks")
    am.add_argument("definition", help="a file, or a built-in name: " + ", ".join(builtin_names()))
    am.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    am.set_defaults(func=cmd_alertmanager)


def describe(d: Definition) -> str:
    """One line: what a definition holds."""
    f = d.file
    label = " (synthetic)" if f.election.synthetic else ""
    return (
        f"{d.name}{label}: {f.election.name}; {len(d.levels)} levels ({' > '.join(d.levels)}),"
        f" {_n(d.fields, 'field')}, {_n(d.relations, 'relation')}, {_n(f.contests, 'contest')},"
        f" {_n(f.turnout.reports, 'turnout report')}, polls close {d.polls_close.isoformat()}"
    )


def _n(items: object, noun: str) -> str:
    n = len(items)  # type: ignore[arg-type]
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _load_or_say(name: str) -> Definition | None:
    """The definition, or None once every mistake in it is printed, a line each."""
    try:
        return load(name)
    except DefinitionError as exc:
        for line in exc.problems:
            print(f"tabmon: error: election definition {exc.origin}: {line}", file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    d = _load_or_say(args.definition)
    if d is None:
        return 2
    print(f"ok: {describe(d)}")
    return 0


def cmd_alertmanager(args: argparse.Namespace) -> int:
    from monitor.alerting.routing import alertmanager_config
    from monitor.errors import MonitorError

    d = _load_or_say(args.definition)
    if d is None:
        return 2
    text = alertmanager_config(d)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise MonitorError(f"cannot write {args.out}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for name in builtin_names():
        print(describe(load(name)))
    return 0
