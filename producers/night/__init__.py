"""A synthetic night for any election definition: layout from its id patterns, protocols that
keep its relations, summaries at every level, and the definition's demo scenario."""

from .form import FormError, FormFiller
from .generate import Night, generate
from .ids import IdWriter, PatternNotWritable

__all__ = ["FormError", "FormFiller", "IdWriter", "Night", "PatternNotWritable", "generate"]
