"""The drill page: ``tabmon drill-report --html OUT_DIR`` writes one self-contained HTML file.

``data`` gathers what the monitor shows (unit snapshots, station documents, findings) into a
``ReportData``; ``page.render`` turns it into HTML with ``plots`` drawn in ``svg``. Both are
pure: tests render from ``monitor.testing.InMemoryTally`` without Redis.
"""

from monitor.drill.report.data import ReportData, drill_data, from_memory
from monitor.drill.report.page import render

__all__ = ["ReportData", "drill_data", "from_memory", "render"]
