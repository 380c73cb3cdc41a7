# roles.jq: what each role needs, in one table. A role that is not in the
# table is refused: a new role gets access only once someone writes its
# rule here.
#
# psm-grant runs this on {"request": ..., "approvals": [...], "now": N}
# and takes the first result (psm-policy(5)). It enforces the numbers
# itself: "approvals" counts distinct approvers other than the requester,
# and each group in "groups" must be covered by a different one of them.

def roles: {
  # Database superuser: two people, one from the DBA team and one from
  # security, so that no team can let itself in alone. An hour at most.
  "dba": {
    approvals: 2,
    groups: ["dba", "security"],
    max_ttl: 3600
  },

  # Day-to-day operations: one approval. Two hours, since deployments
  # and incidents take longer; port forwarding for tunnels to services.
  "ops": {
    approvals: 1,
    max_ttl: 7200,
    ssh_extensions: ["permit-pty", "permit-port-forwarding"]
  },

  # Looking, not changing: one approval, for a working half-day.
  "read-only": {
    approvals: 1,
    max_ttl: 14400
  }
};

# "1h", "2h", "90m": a time limit as people say it, for the reason.
def duration: if . % 3600 == 0 then "\(. / 3600)h" else "\(. / 60)m" end;

# "2 approvals from dba and security, at most 1h": what --explain shows.
def explain:
  "\(.approvals) approval\(if .approvals == 1 then "" else "s" end)"
  + (if .groups == [] then "" else " from \(.groups | join(" and "))" end)
  + ", at most \(.max_ttl | duration)";

.request.role as $role
| roles[$role] as $rule
| if $rule == null then
    {allow: false, reason: "role \"\($role)\" has no rule in roles.jq"}
  else
    # The role's own settings over the defaults of psm-policy(5).
    ({groups: [], self_approval: false} + $rule) as $r
    | $r + {allow: true, reason: "role \($role): \($r | explain)"}
  end
