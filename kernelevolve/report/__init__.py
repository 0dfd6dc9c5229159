"""What a run hands back to a reader: the end-of-run summary (markdown.py) and report.html (page.py),
built from the store (data.py) with inline SVG charts (svg.py, tree.py)."""
