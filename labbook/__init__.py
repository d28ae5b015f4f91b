"""labbook: the Django service (bench records, jobs, API, pages, archives).

One app per part of the domain; labbook/units.py is shared by all of them.
"""
