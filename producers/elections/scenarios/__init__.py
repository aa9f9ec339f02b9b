"""Planted irregularities with their truth: ``inject`` plants station findings in a night,
``units`` the unit-level ones, ``place`` chooses where they go and records what was planted,
``edit`` is the editor they work through, and ``forensic`` plants the statistical signals."""
