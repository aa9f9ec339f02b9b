"""The election definition: levels, sources, protocol fields, relations, contests and rules.

An election is a file (docs/election-definition.md); ``load("kz2007")`` gives the drill's.
The registry (units and stations) stays data on the ``registry`` topic, checked against it.
"""

from monitor.election.definition import Definition, UnitPattern
from monitor.election.expr import ExpressionError, Linear, Relation
from monitor.election.load import BUILTIN, DefinitionError, builtin_names, load, parse
from monitor.election.model import DefinitionFile

__all__ = [
    "BUILTIN",
    "Definition",
    "DefinitionError",
    "DefinitionFile",
    "ExpressionError",
    "Linear",
    "Relation",
    "UnitPattern",
    "builtin_names",
    "load",
    "parse",
]
