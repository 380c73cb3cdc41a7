# business-hours.jq: access during working hours needs one approval; at
# night and at weekends, when fewer people are about to notice, it needs
# two, and is shorter.
#
# Working hours are Monday to Friday, 08:00 to 18:00, in UTC. An access
# counts as inside them only when all of it is: from now (psm-grant issues
# the grant now, and it starts at once) to the end of the time the request
# asks for (its "ttl"). Access that would run past 18:00 needs two
# approvals, as if it began at night.
#
# psm-grant runs this on {"request": ..., "approvals": [...], "now": N}
# and takes the first result (psm-policy(5)); "now" is psm-grant's clock,
# in seconds since 1970-01-01 00:00 UTC.

# The zone of the working hours, as seconds east of UTC, and its name for
# the reasons. For Central Europe: 3600 and "CET" in winter, 7200 and
# "CEST" in summer; New York in winter: -18000 and "EST". The offset is
# fixed: it does not follow daylight saving time, so change it when the
# clocks change, or choose hours in UTC that suit both seasons.
def utc_offset: 0;
def zone: "UTC";

def day_starts: 8 * 3600;   # 08:00, in seconds after midnight
def day_ends: 18 * 3600;    # 18:00
def hours: "Monday to Friday, 08:00-18:00 \(zone)";

# Now in the zone above: the seconds since midnight, and the day of the
# week (0 Sunday, 1 Monday ... 6 Saturday). gmtime gives [year, month,
# day, hours, minutes, seconds, day of the week, day of the year].
(.now + utc_offset) as $t
| ($t % 86400) as $since_midnight
| ($t | gmtime | .[6]) as $weekday
| ($weekday >= 1 and $weekday <= 5
   and $since_midnight >= day_starts and $since_midnight < day_ends) as $day
| if $day and $since_midnight + .request.ttl <= day_ends then
    {
      allow: true,
      approvals: 1,
      max_ttl: 14400,
      reason: "within working hours (\(hours)): 1 approval, at most 4h"
    }
  else
    {
      allow: true,
      approvals: 2,
      max_ttl: 3600,
      reason: ((if $day then "runs past" else "outside" end)
        + " working hours (\(hours)): 2 approvals, at most 1h")
    }
  end
