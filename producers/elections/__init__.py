"""The elections tabmon can replay: ``kz2007`` (the 2007 night, calibrated to the published
figures), ``synthetic`` (a 2007-shaped night of any size), ``night`` (a synthetic night for
any election definition) and ``scenarios`` (planted irregularities with their truth)."""
