"""Fee plans (what the platform charges merchants), channel cost schedules (what channels
charge us), their booking on every capture and refund, and the margin and cost reports."""
