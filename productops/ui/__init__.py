"""What every page shares: the one `Filters` parser (filters.py), links to the rows behind a number
(drill.py), chart context (charts.py), the data-version page cache (cache.py) and the `{% load ui %}`
template tags. Pages in any app (dashboards, insights/feedback, insights/anomalies, insights/overlaps,
goals) import these from here; nothing here imports a view.
"""
