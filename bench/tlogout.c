/*
 * tlogout: the terminal output recorded in a tlog-rec log (its "file"
 * writer: one JSON message a line), as bytes on stdout, so the benchmark
 * can compare it with what the command wrote. tlog-play cannot do that:
 * it wants a terminal and waits for keys.
 *
 *     tlogout LOG
 *
 * Concatenates the "out_txt" strings of the messages in the order of the
 * file. Output that was not valid UTF-8 (a non-empty "out_bin") is not
 * put back: tlogout says so and fails, as it does on anything it cannot
 * read. The benchmark's input is valid UTF-8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *name;
static unsigned long lineno;

static void fail(const char *msg) __attribute__((noreturn));

static void
fail(const char *msg)
{
	fprintf(stderr, "tlogout: %s:%lu: %s\n", name, lineno, msg);
	exit(1);
}

static int
hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			fail("bad \\u escape");
		v = v * 16 + d;
	}
	return v;
}

static void
put_utf8(unsigned long c)
{
	if (c < 0x80) {
		putchar((int)c);
	} else if (c < 0x800) {
		putchar((int)(0xc0 | c >> 6));
		putchar((int)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		putchar((int)(0xe0 | c >> 12));
		putchar((int)(0x80 | (c >> 6 & 0x3f)));
		putchar((int)(0x80 | (c & 0x3f)));
	} else {
		putchar((int)(0xf0 | c >> 18));
		putchar((int)(0x80 | (c >> 12 & 0x3f)));
		putchar((int)(0x80 | (c >> 6 & 0x3f)));
		putchar((int)(0x80 | (c & 0x3f)));
	}
}

/* Decode the JSON string that starts after its opening quote at p. */
static const char *
put_string(const char *p)
{
	for (;;) {
		int c = (unsigned char)*p++;

		if (c == '"')
			return p;
		if (c == '\0' || c == '\n')
			fail("unterminated string");
		if (c != '\\') {
			putchar(c);
			continue;
		}
		switch (c = *p++) {
		case '"': case '\\': case '/': putchar(c); break;
		case 'b': putchar('\b'); break;
		case 'f': putchar('\f'); break;
		case 'n': putchar('\n'); break;
		case 'r': putchar('\r'); break;
		case 't': putchar('\t'); break;
		case 'u': {
			unsigned long u = (unsigned long)hex4(p);
			p += 4;
			if (u >= 0xd800 && u < 0xdc00) {
				if (p[0] != '\\' || p[1] != 'u')
					fail("lone surrogate");
				unsigned long lo = (unsigned long)hex4(p + 2);
				if (lo < 0xdc00 || lo > 0xdfff)
					fail("bad surrogate pair");
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			put_utf8(u);
			break;
		}
		default:
			fail("bad escape");
		}
	}
}

int
main(int argc, char **argv)
{
	static const char key[] = "\"out_txt\":\"";
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: tlogout LOG\n");
		return 2;
	}
	name = argv[1];
	if ((f = fopen(name, "r")) == NULL) {
		perror(name);
		return 1;
	}
	while (getline(&line, &cap, f) > 0) {
		const char *p;

		lineno++;
		if ((p = strstr(line, key)) != NULL)
			p = put_string(p + sizeof key - 1);
		if (strstr(line, "\"out_bin\":[]") == NULL && strstr(line, "\"out_bin\":") != NULL)
			fail("output that is not UTF-8 (out_bin): not supported");
	}
	if (ferror(f))
		fail("read error");
	free(line);
	fclose(f);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
