"""Results for people: numbers in words, SVG charts and HTML tables, no I/O.

``format`` turns the result JSON's numbers and field values into text,
``charts`` draws inline SVG, ``tables`` builds the HTML of a result and
``style`` holds the CSS both need. The dashboard (service) and the analysis
job's HTML and text reports all render through this package, so a number
reads the same everywhere. Pure: the standard library only; every function
takes the result (``abflask.core.stats.schema``) and, where time matters,
``now``; none reads the clock.
"""
