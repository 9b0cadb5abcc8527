"""Static HTML reports of a Blur2Blur comparison: result tables, image strips with zoom, training curves.

One self-contained page (``index.html``, no external CSS, fonts or scripts) plus the PNG images
it shows under ``images/``; see :func:`write_report`.
"""

from blur2blur.report.html import (ReportCrop, ReportTable, ReportVerdict, format_cell, read_jsonl_curves,
                                  write_report)

__all__ = ["ReportCrop", "ReportTable", "ReportVerdict", "format_cell", "read_jsonl_curves", "write_report"]
