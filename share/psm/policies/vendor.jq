# vendor.jq: access by or for an outside vendor needs a ticket and two
# approvers from two teams: one from security, and one from the team that
# owns the vendor and answers for what it does. Half an hour at most.
# Everyone else needs one approval, for at most an hour.
#
# A request is a vendor's when its role is "vendor", or when the user who
# asks or the account asked for is named vendor-*: vendors log in with
# accounts of their own, and staff who act for a vendor use the "vendor"
# role or its account.
#
# psm-grant runs this on {"request": ..., "approvals": [...], "now": N}
# and takes the first result (psm-policy(5)). It enforces the numbers
# itself: with groups ["security", "dba"], two different approvers must
# approve, one in security and the other in dba.

# The team that owns each vendor, by the vendor's user or account name.
# A vendor not listed is refused: someone inside must answer for it.
def owners: {
  "vendor-acme": "dba",
  "vendor-netco": "network"
};

def is_vendor_name: startswith("vendor-");

.request as $q
| ($q.role == "vendor" or ($q.user | is_vendor_name) or ($q.account | is_vendor_name)) as $vendor
# The owner: the user's entry first (the vendor's own login), then the
# account's (staff acting for the vendor).
| (owners[$q.user] // owners[$q.account]) as $owner
| if $vendor | not then
    {
      allow: true,
      approvals: 1,
      max_ttl: 3600,
      reason: "not a vendor: 1 approval, at most 1h"
    }
  # Vendor work is billed and reviewed against a ticket: no ticket, no
  # access. (For a ticket of a given shape, add a test of $q.ticket, as
  # ($q.ticket | test("^CHG-[0-9]+$")).)
  elif ($q.ticket // "") == "" then
    {allow: false, reason: "vendor access: a ticket is required"}
  elif $owner == null then
    {
      allow: false,
      reason: "vendor access: neither \"\($q.user)\" nor \"\($q.account)\" has an owner team in vendor.jq"
    }
  else
    {
      allow: true,
      approvals: 2,
      groups: ["security", $owner],
      self_approval: false,
      max_ttl: 1800,
      reason: "vendor access: 2 approvals, from security and \($owner), at most 30m"
    }
  end
