"""labbook's numeric core: pure functions over numpy arrays, chunked on dask.

Never imports Django. The service (labbook/) calls into this package through the jobs app;
``python -m analysis`` runs each analysis on files from the command line.
"""

__version__ = "0.1.0"
