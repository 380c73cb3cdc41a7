-- ship-views.sql: views of the lines that psm-ship stores in PostgreSQL.
--
--   psql -d audit -v ON_ERROR_STOP=1 -f /usr/local/share/psm/ship-views.sql
--
-- in the schema that psm-ship writes to (the first of search_path; a URL's
-- options=-csearch_path%3Daudit is schema audit). Run it again after an
-- upgrade: everything here is CREATE OR REPLACE or IF NOT EXISTS.
--
-- psm_lines is one row per line, byte for byte, keyed by the SHA-256 of the
-- line: a line shipped twice is one row. psm-ship creates the table when it
-- is missing; it is here too, the same, for a site that makes it beforehand
-- and lets psm-ship's role only insert:
--
--   GRANT USAGE ON SCHEMA audit TO shipper;
--   GRANT INSERT ON audit.psm_lines TO shipper;     -- and TEMP on the database (PUBLIC has it)
--
-- One event can still be two rows: the line as psm-record wrote it and the
-- same line sealed by psm-seal (with "chain" and "h" added) are different
-- bytes, and psm-ship may have shipped both, from two files. The views count
-- an event once: by (sid, seq, type) and its content without "chain" and
-- "h", and show the sealed line when there is one. Two lines with the same
-- sid, seq and type but other content are both kept: that is two versions
-- of one event, which a reader should see (a forged line, or a stream
-- edited after it was shipped), not one chosen for them.

CREATE TABLE IF NOT EXISTS psm_lines (
	id bytea PRIMARY KEY,		-- SHA-256 of the line's exact bytes
	line text NOT NULL,		-- the line, byte for byte, without its newline
	sid uuid NOT NULL,
	seq bigint NOT NULL,
	type text NOT NULL,
	t bigint NOT NULL,
	host text NOT NULL,		-- the host that shipped it (psm-ship's host name)
	file text NOT NULL,		-- the file it was read from there
	file_line bigint NOT NULL,	-- its line number in that file, from 1
	stream uuid NULL,		-- a sealed line's sealed stream, when known
	stream_line bigint NULL,	-- its place in that stream, from 1
	shipped timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS psm_lines_sid_seq ON psm_lines (sid, seq);

-- Every event once (see above), sealed form first, then the first shipped.
-- A filter on sid reaches the index on (sid, seq).
CREATE OR REPLACE VIEW psm_session_events AS
SELECT DISTINCT ON (l.sid, l.seq, l.type, l.j - 'chain' - 'h')
	l.sid, l.seq, l.t, l.type, l.line,
	l.j ? 'h' AS sealed,
	l.host AS shipped_from
FROM (SELECT p.*, p.line::jsonb AS j FROM psm_lines p) l
ORDER BY l.sid, l.seq, l.type, l.j - 'chain' - 'h', l.j ? 'h' DESC, l.shipped, l.id;

-- A session's events in order.
CREATE OR REPLACE FUNCTION psm_session_lines(session uuid)
RETURNS TABLE (seq bigint, t bigint, type text, line text)
LANGUAGE sql STABLE
AS $$
	SELECT e.seq, e.t, e.type, e.line
	FROM psm_session_events e
	WHERE e.sid = session
	ORDER BY e.seq, e.type, e.line;
$$;

-- One row per session that has its start event, from its start and end
-- events (psm-stream(5)); a session still open, or whose end was not
-- shipped, has NULL in ended, duration, reason and exit.
--   user_name   the start's "user" (not "user": in SQL that is CURRENT_USER);
--               a name that is not UTF-8 is shown as 'b64:' and its base64
--   host, tty, cwd    the start's, likewise; host is where the session ran
--   argv        the command, a JSON array
--   started     the start's wall-clock "time"
--   ended       started + the end's duration (by the session's monotonic clock)
--   exit        the command's status; signal the signal that killed it, if one did
--   events      the session's events, each counted once (see above)
--   shipped_from      the host column: the host whose psm-ship sent the start line
CREATE OR REPLACE VIEW psm_sessions AS
WITH starts AS (
	SELECT DISTINCT ON (sid) sid, line::jsonb AS j, host AS shipped_from
	FROM psm_lines
	WHERE type = 'start' AND seq = 0
	ORDER BY sid, line::jsonb ? 'h' DESC, shipped, id
), ends AS (
	SELECT DISTINCT ON (sid) sid, line::jsonb AS j
	FROM psm_lines
	WHERE type = 'end'
	ORDER BY sid, seq DESC, line::jsonb ? 'h' DESC, shipped, id
), counts AS (
	SELECT sid, count(*) AS events
	FROM psm_session_events
	GROUP BY sid
)
SELECT
	s.sid,
	coalesce(s.j->>'user', 'b64:' || (s.j->>'user_b64')) AS user_name,
	(s.j->>'uid')::bigint AS uid,
	coalesce(s.j->>'host', 'b64:' || (s.j->>'host_b64')) AS host,
	coalesce(s.j->>'tty', 'b64:' || (s.j->>'tty_b64')) AS tty,
	coalesce(s.j->>'cwd', 'b64:' || (s.j->>'cwd_b64')) AS cwd,
	s.j->'argv' AS argv,
	(s.j->>'time')::timestamptz AS started,
	(s.j->>'time')::timestamptz + (e.j->>'duration')::bigint * interval '1 microsecond' AS ended,
	(e.j->>'duration')::bigint * interval '1 microsecond' AS duration,
	e.j->>'reason' AS reason,
	(e.j->>'exit')::int AS exit,
	(e.j->>'signal')::int AS signal,
	c.events,
	s.shipped_from
FROM starts s
LEFT JOIN ends e USING (sid)
LEFT JOIN counts c USING (sid);
