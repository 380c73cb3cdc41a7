# default.jq: one approval from someone other than the requester, for at
# most an hour, whatever the role. A starting point: copy it and add rules.
#
# psm-grant runs this on {"request": ..., "approvals": [...], "now": N}
# and takes the first result (psm-policy(5)). psm-grant counts the
# approvals itself, over distinct approvers; this only says how many.

{
  allow: true,
  # A second pair of eyes: the requester's own approval never counts.
  approvals: 1,
  self_approval: false,
  # Long enough for most tasks; longer work asks again.
  max_ttl: 3600,
  reason: "one approval by someone else, at most 1h"
}
