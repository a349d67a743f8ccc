"""Regulatory reports: the PBoC large-value transaction report of each day, suspicious
transaction report drafts from cases, their CSV and XML files, and the register of what
was generated and filed.

`large_value` holds the rules (which day a transaction counts in, its category, the
thresholds, same-day cumulation) as pure functions; `rows` turns reported transactions into
masked report rows; `files` writes and reads the files; `register` keeps the reports;
`daily` and `suspicious` make them.
"""
