/*
 * termgen: write about SIZE bytes of terminal-like output to stdout, the
 * same bytes on every run (a fixed-seed generator, no clock, no locale).
 *
 *     termgen SIZE
 *
 * A mix of what a recorder sees in a privileged session: a build log with
 * coloured compiler lines, warnings with gcc's UTF-8 quotes and long
 * command lines; `ls --color` listings; full-screen top(1) refreshes with
 * cursor addressing; test runner output with UTF-8 symbols and text in
 * several scripts; progress bars redrawn with \r; and long single-line
 * JSON logs. Everything is valid UTF-8. Output stops at the first line
 * end at or after SIZE bytes.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9e3779b97f4a7c15u;
static unsigned long long written;

/* xorshift64*: small, fast and the same everywhere. */
static uint32_t
rnd(uint32_t n)
{
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 0x2545f4914f6cdd1du) >> 32) % n;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
out(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	if (n < 0) {
		perror("termgen");
		exit(1);
	}
	written += (unsigned long long)n;
}

static const char *const words[] = {
	"src", "lib", "core", "net", "crypto", "session", "record", "policy",
	"stream", "util", "parser", "io", "tty", "audit", "grant", "seal",
	"config", "cache", "index", "worker", "queue", "buffer", "event",
};
#define NWORDS (sizeof words / sizeof words[0])

static const char *const utf8[] = {
	"résumé", "naïve café", "Straße", "日本語のテキスト", "中文输出",
	"Ελληνικά", "русский текст", "한국어", "→ ← ↑ ↓", "✓", "✗", "…",
	"°C", "€ 12,50", "🚀", "🔒 sealed", "ＦＵＬＬ　ＷＩＤＴＨ", "Ω≈ç√∫",
};
#define NUTF8 (sizeof utf8 / sizeof utf8[0])

static const char *const colours[] = {
	"\033[0m", "\033[01;34m", "\033[01;32m", "\033[01;36m", "\033[40;33;01m",
	"\033[01;31m", "\033[01;35m", "\033[00;36m", "\033[30;42m",
};
#define NCOLOURS (sizeof colours / sizeof colours[0])

static const char *
word(void)
{
	return words[rnd(NWORDS)];
}

static void
build_short(void)
{
	static const char *const tag[] = { "CC", "LD", "AR", "GEN", "CXX" };

	out("\033[32m  %-6s\033[0m  %s/%s_%04u.o\n", tag[rnd(5)], word(), word(), rnd(10000));
}

static void
build_long(void)
{
	unsigned n = 10 + rnd(60);

	out("gcc -std=c11 -O2 -g -Wall -Wextra -Wformat=2 -Werror -D_FORTIFY_SOURCE=2");
	for (unsigned i = 0; i < n; i++) {
		switch (rnd(3)) {
		case 0: out(" -I/usr/include/%s/%s", word(), word()); break;
		case 1: out(" -DHAVE_%s_%s=%u", word(), word(), rnd(100)); break;
		default: out(" -Wno-%s-%s", word(), word()); break;
		}
	}
	out(" -c -o %s/%s.o %s/%s.c\n", word(), word(), word(), word());
}

static void
warning(void)
{
	const char *w = word();
	unsigned line = 1 + rnd(2000), col = 5 + rnd(40);

	out("\033[01m\033[K%s/%s.c:%u:%u:\033[m\033[K \033[01;35m\033[Kwarning: \033[m\033[K"
	    "unused variable \342\200\230\033[01m\033[K%s_%u\033[m\033[K\342\200\231 "
	    "[\033[01;35m\033[K-Wunused-variable\033[m\033[K]\n", word(), w, line, col, w, rnd(99));
	out(" %4u |     int \033[01;35m\033[K%s_%u\033[m\033[K;\n", line, w, rnd(99));
	out("      |         \033[01;35m\033[K^~~~~~\033[m\033[K\n");
}

static void
ls_color(void)
{
	unsigned n = 3 + rnd(6);

	for (unsigned i = 0; i < n; i++) {
		const char *c = colours[rnd(NCOLOURS)];
		out("%s%s_%s%s\033[0m%s", c, word(), word(), rnd(4) ? "" : ".tar.gz",
		    i + 1 < n ? (rnd(2) ? "  " : "\t") : "\n");
	}
}

static void
top_screen(void)
{
	static const char *const user[] = { "root", "postgres", "www-data", "systemd+", "alice" };
	unsigned rows = 15 + rnd(10);

	out("\033[H\033[2J\033[?25l");
	out("top - %02u:%02u:%02u up %u days,  %u users,  load average: %u.%02u, %u.%02u, %u.%02u\033[K\n",
	    rnd(24), rnd(60), rnd(60), rnd(400), 1 + rnd(9), rnd(8), rnd(100), rnd(8), rnd(100),
	    rnd(8), rnd(100));
	out("Tasks: \033[1m%u \033[0mtotal,\033[1m   %u \033[0mrunning\033[K\n", 100 + rnd(300), 1 + rnd(5));
	out("MiB Mem : \033[1m%6u.%u\033[0m total\033[K\n\033[K\n", 1000 + rnd(60000), rnd(10));
	out("\033[7m    PID USER      PR  NI    VIRT    RES    SHR S  %%CPU  %%MEM     TIME+ COMMAND   \033[0m\033[K\n");
	for (unsigned r = 0; r < rows; r++) {
		out("\033[%u;1H%s%7u %-8s  20   0 %7u %6u %6u %c %5u.%u %5u.%u %5u:%02u.%02u %s%s\033[0m\033[K",
		    r + 7, r < 2 ? "\033[1m" : "", 1 + rnd(99999), user[rnd(5)], rnd(9999999), rnd(999999),
		    rnd(99999), "RSSDI"[rnd(5)], rnd(100), rnd(10), rnd(100), rnd(10), rnd(999), rnd(60),
		    rnd(100), word(), rnd(8) ? "" : "-\360\237\224\222");
		out("\n");
	}
	out("\033[?25h");
}

static void
tests(void)
{
	if (rnd(10) == 0)
		out("\033[31m✗\033[0m test_%s_%u \033[2m(%u ms)\033[0m — attendu « %s », reçu « %s »\n",
		    word(), rnd(1000), rnd(500), utf8[rnd(NUTF8)], utf8[rnd(NUTF8)]);
	else
		out("\033[32m✓\033[0m test_%s_%u \033[2m(%u ms)\033[0m %s\n", word(), rnd(1000),
		    rnd(500), rnd(3) ? "" : utf8[rnd(NUTF8)]);
	if (rnd(8) == 0)
		out("│ %-12s │ %8u │ %-22s │\n", word(), rnd(100000), utf8[rnd(NUTF8)]);
}

static void
progress(void)
{
	unsigned steps = 5 + rnd(20);

	for (unsigned i = 0; i <= steps; i++) {
		unsigned fill = 40 * i / steps;
		out("\r%s [", word());
		for (unsigned j = 0; j < 40; j++)
			out(j < fill ? "█" : "░");
		out("] %3u%% %u.%u MB/s", 100 * i / steps, rnd(200), rnd(10));
	}
	out("\n");
}

static void
json_log(void)
{
	unsigned n = 20 + rnd(150);

	out("{\"ts\":\"2024-05-%02uT%02u:%02u:%02u.%03uZ\",\"level\":\"info\",\"msg\":\"%s\",\"fields\":{",
	    1 + rnd(28), rnd(24), rnd(60), rnd(60), rnd(1000), utf8[rnd(NUTF8)]);
	for (unsigned i = 0; i < n; i++)
		out("%s\"%s_%u\":\"%s-%u\"", i ? "," : "", word(), i, word(), rnd(1000000));
	out("}}\n");
}

int
main(int argc, char **argv)
{
	unsigned long long size;

	if (argc != 2 || (size = strtoull(argv[1], NULL, 10)) == 0) {
		fprintf(stderr, "usage: termgen SIZE\n");
		return 2;
	}
	while (written < size) {
		unsigned k = rnd(100);

		if (k < 28)
			build_short();
		else if (k < 36)
			build_long();
		else if (k < 48)
			warning();
		else if (k < 66)
			ls_color();
		else if (k < 69)
			top_screen();
		else if (k < 95)
			tests();
		else if (k < 97)
			progress();
		else
			json_log();
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("termgen");
		return 1;
	}
	return 0;
}
