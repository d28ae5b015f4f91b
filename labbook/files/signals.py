"""What the files layer announces to the layers above it.

``analysis_requested`` is sent when a person attaches raw files and asks for them to be analysed (the
admin's "Analyse after upload" box). The files layer does not know about analyses; the jobs app
listens (``labbook.jobs.signals``) and queues the record's natural analysis, returning the job. A
receiver refuses with a ValidationError, which the sender shows to the person.
"""

from django.dispatch import Signal

#: sent with ``target`` (the record the files were attached to) and ``user``
analysis_requested = Signal()
