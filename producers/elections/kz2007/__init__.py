"""The 2007 drill's night: the report's figures (``data``, ``figures``, ``official``), the
layout of its units and stations (``layout``), the counts that reproduce the published totals
(``counts``), and the night built from them (``night``)."""
