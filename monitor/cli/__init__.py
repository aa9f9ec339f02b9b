"""Every ``tabmon`` command, thin, calling the rooms that do the work: ``main`` parses the
command line and dispatches; ``demo`` runs the embedded default; the others each serve one
command (``definition``, ``drill_report``, ``export``, ``findings``, ``notify``)."""
