"""Templates ("recipes"): named, per-project starting points for a synthesis, a chloride treatment
series (e.g. "0/3/9/17 % Cl from one pool") and a notebook entry.

models.py (Template: kind + the fields as people type them), services.py (the only writers;
series_plan / series_apply: the planner's MACl volume per target and the treatments made in one
transaction), forms.py, views.py + urls.py (the pages under /templates/; also mounts the tag
views under /tags/).
"""
