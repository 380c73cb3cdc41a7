# break-glass.jq: emergency access when no approver can be reached. The
# role "break-glass" needs no approval at all; in exchange it is short
# (15 minutes), it must say why, and the grant is flagged "break-glass",
# which marks the recorded session for review afterwards. Any other role
# needs one approval, for at most an hour.
#
# psm-grant runs this on {"request": ..., "approvals": [...], "now": N}
# and takes the first result (psm-policy(5)).

# The reason must say what is broken, in at least this many characters.
# Blanks at either end and runs of blanks count as nothing and as one
# space: "urgent" padded with spaces is not a reason.
def min_reason: 20;

# A text's words, joined with one space each: what the reader sees.
def words: [scan("[^[:space:][:cntrl:]]+")] | join(" ");

if .request.role == "break-glass" then
  if (.request.reason | words | length) < min_reason then
    {
      allow: false,
      reason: "break-glass: the reason must say what is broken, in at least \(min_reason) characters"
    }
  else
    {
      allow: true,
      # Nobody approves: the requester decides alone, and is answerable
      # for it afterwards, through the flag below.
      approvals: 0,
      max_ttl: 900,
      flags: ["break-glass"],
      reason: "break-glass: no approval, at most 15m, the session flagged for review"
    }
  end
else
  {
    allow: true,
    approvals: 1,
    max_ttl: 3600,
    reason: "1 approval, at most 1h"
  }
end
