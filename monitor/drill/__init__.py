"""The drill and the quality harness: ``check`` holds the monitor's outputs against the
figures of the 2007 report, ``report`` draws the drill page, ``quality`` scores detectors
against a known truth, and ``harness`` runs a night through the pure pipeline to score it."""
