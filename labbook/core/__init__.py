"""What every app may use, below all of them: no model, no knowledge of projects or records.

(``labbook/units.py`` and ``labbook/filters.py`` sit in this layer too.)
"""
