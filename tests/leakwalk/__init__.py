"""The leak walker: plant marked traditional knowledge, walk every route as every role, and
report each place a marker shows where the role may not see it (tests/test_tk_leaks.py).

- ``markers``: unique, searchable marker strings and where they hide in a response;
- ``plant``: the cast (one user per role) and the marked records, through the real services;
- ``policy``: the table of which role may see which field of a record of each visibility;
- ``routes``: every rule of ``app.url_map`` turned into concrete requests;
- ``walk``: sends them, scans the answers and collects the findings.
"""
