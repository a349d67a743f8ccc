"""The in-line risk decision: every payment is scored before it reaches a channel.

`features` measures the payment against its history (velocity per customer, card, device
and IP; travel since the previous payment; distance from home; amounts against the
customer's usual and against reporting thresholds). `rules` holds the rule sets as data
and evaluates them; `service` decides, records and lists decisions; `dryrun` replays
recorded decisions through a draft rule set.
"""
