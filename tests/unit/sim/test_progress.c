/*
 * test_progress.c - unit tests for src/sim/progress.c: what the progress
 * line says, that it never exceeds the terminal's width (invariant 2), and
 * the rate measured over the last seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "sim/progress.h"
#include "core/banned.h"

static void test_line_with_total(void **state)
{
	char buf[256];
	int n = sim_progress_format(buf, sizeof(buf), 100, 1234, 3998, 812.4, 192, NULL);

	assert_int_equal(n, (int)strlen(buf));
	assert_non_null(strstr(buf, "1234/3998"));
	assert_non_null(strstr(buf, " 31%"));
	assert_non_null(strstr(buf, "812/s"));
	assert_non_null(strstr(buf, "ETA 0:03:12"));
	assert_true(buf[0] == '[' && strchr(buf, ']'));
	/* 40 cells, 30.9 % of them filled */
	assert_int_equal(strspn(buf + 1, "#"), 12);
	sim_progress_format(buf, sizeof(buf), 100, 10, 10, 5.5, 0, "reconnecting");
	assert_non_null(strstr(buf, "[########################################]"));
	assert_non_null(strstr(buf, "100%"));
	assert_non_null(strstr(buf, "5.5/s"));
	assert_non_null(strstr(buf, "reconnecting"));
}

static void test_line_without_total(void **state)
{
	char buf[256];

	sim_progress_format(buf, sizeof(buf), 80, 17, 0, 0.5, -1, NULL);
	assert_string_equal(buf, "17 sent  30.0/min");
	sim_progress_format(buf, sizeof(buf), 80, 17, 0, 0.1 / 60, -1, NULL);
	assert_string_equal(buf, "17 sent  6.0/h");
	sim_progress_format(buf, sizeof(buf), 80, 3, 0, 1.0 / 3600, -1, NULL);
	assert_string_equal(buf, "3 sent  1.0/h");
}

static void test_eta_forms(void **state)
{
	char buf[256];

	sim_progress_format(buf, sizeof(buf), 100, 1, 10, 0, -1, NULL);
	assert_non_null(strstr(buf, "ETA --:--"));
	sim_progress_format(buf, sizeof(buf), 100, 1, 10, 0, 3 * 86400 + 5 * 3600, NULL);
	assert_non_null(strstr(buf, "ETA 3d05h"));
	sim_progress_format(buf, sizeof(buf), 100, 1, 10, 0, 3600 + 61, NULL);
	assert_non_null(strstr(buf, "ETA 1:01:01"));
}

static void test_never_wider_than_the_terminal(void **state)
{
	char buf[256];

	for (int width = 20; width < 130; width++) {
		sim_progress_format(buf, sizeof(buf), width, 123456789, 987654321, 12345.6, 86399,
				    "reconnecting");
		assert_true((int)strlen(buf) <= width);
		sim_progress_format(buf, sizeof(buf), width, 123456789, 0, 12345.6, -1,
				    "reconnecting");
		assert_true((int)strlen(buf) <= width);
	}
	/* narrow: the numbers stay, the bar goes */
	sim_progress_format(buf, sizeof(buf), 40, 5, 10, 1, 5, NULL);
	assert_null(strchr(buf, '['));
	assert_non_null(strstr(buf, "5/10"));
}

static void test_rate_over_recent_samples(void **state)
{
	struct sim_progress p;

	sim_progress_init(&p, true, 0);
	p.on = false; /* sample by hand, draw nothing */
	assert_true(sim_progress_rate(&p) == 0.0);
	/* 100/s for 10 s, then 10/s for 5 s: the rate shows the last 5 s */
	for (int i = 0; i <= 100; i++) {
		size_t k = p.nsamples % SIM_PROGRESS_SAMPLES;
		p.samples[k].at_ms = i * 100;
		p.samples[k].sent = i <= 50 ? (uint64_t)(i * 10) : (uint64_t)(500 + (i - 50));
		p.nsamples++;
	}
	assert_true(sim_progress_rate(&p) > 9.9 && sim_progress_rate(&p) < 10.1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_with_total),
		cmocka_unit_test(test_line_without_total),
		cmocka_unit_test(test_eta_forms),
		cmocka_unit_test(test_never_wider_than_the_terminal),
		cmocka_unit_test(test_rate_over_recent_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
