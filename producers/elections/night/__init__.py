"""A synthetic night for any election definition: layout from its id patterns, protocols that
keep its relations, summaries at every level, and the definition's demo scenario."""

from producers.elections.night.form import FormError, FormFiller
from producers.elections.night.generate import Night, generate
from producers.elections.night.ids import IdWriter, PatternNotWritable

__all__ = ["FormError", "FormFiller", "IdWriter", "Night", "PatternNotWritable", "generate"]
