/*
 * csv.h - the simulator's input file: one reading per line.
 *
 * Two shapes, decided by the first data row and then required of every row:
 *
 *   value              0.5            a number per line (seed 000's sensor.csv);
 *                                     the simulator stamps the rows itself
 *   timestamp,value    2025-03-05T00:10:00Z,1.25    RFC 3339 (an offset is
 *                                     required) or epoch milliseconds
 *
 * Also accepted: ',' ';' or TAB as separator, fields in double quotes,
 * spaces around fields, CRLF line ends, a UTF-8 byte-order mark, blank
 * lines and '#' comment lines (both skipped: rows, not lines, are what
 * advance the clock), and one header line ("value", "timestamp,value") but
 * only before the first data row.  Values must be finite and >= 0 (kilowatt
 * refuses negative energy); timestamps must not go backwards.
 *
 * The file is read twice: sim_csv_open() checks every line and counts the
 * rows, so a bad line stops the run before anything is sent, with an error
 * naming file:line and the offending text; sim_csv_next() then streams the
 * rows.  Memory is one line buffer: files of any length work.
 *
 * Not thread-safe (one reader); no global state.
 */
#ifndef KW_SIM_CSV_H
#define KW_SIM_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_CSV_LINE_MAX 256 /* bytes per line, without the line end */

/* What one line holds (sim_csv_parse_line's non-negative results). */
enum sim_csv_kind {
	SIM_CSV_SKIP,  /* blank, comment, or the header */
	SIM_CSV_VALUE, /* value only */
	SIM_CSV_TIMED  /* timestamp and value */
};

/*
 * Parses one line of len bytes (no line end; a trailing CR is allowed).
 * header_ok: no data row was seen yet, so a header is skipped.  Returns a
 * sim_csv_kind (*ts_ms set for TIMED; *value for VALUE and TIMED), or
 * KW_EINVAL with err saying what is wrong with which text (no file:line).
 */
int sim_csv_parse_line(const char *line, size_t len, bool header_ok, int64_t *ts_ms, double *value,
		       char *err, size_t errlen);

struct sim_csv;

/*
 * Opens and checks path.  Returns 0 with *out (free with sim_csv_free), or
 * a negative code with err set: "sensor.csv:17: value 'x' is not a number",
 * "cannot open 'a.csv': No such file or directory", "'e.csv' holds no
 * readings".
 */
int sim_csv_open(const char *path, struct sim_csv **out, char *err, size_t errlen);

/* The same on an open stream, which it takes over (closed by sim_csv_free
 * or on failure); name is used in messages.  For tests (fmemopen). */
int sim_csv_open_stream(FILE *f, const char *name, struct sim_csv **out, char *err, size_t errlen);

/* Data rows in the file (>= 1). */
uint64_t sim_csv_rows(const struct sim_csv *c);

/* true for timestamp,value rows. */
bool sim_csv_timed(const struct sim_csv *c);

/* The first and last row's timestamps (Unix epoch ms, UTC); timed files only. */
int64_t sim_csv_first_ts(const struct sim_csv *c);
int64_t sim_csv_last_ts(const struct sim_csv *c);

/*
 * The next row: 1 with *ts_ms (timed files; else untouched) and *value, 0
 * at the end, or a negative code with err set when the file changed since
 * it was checked.
 */
int sim_csv_next(struct sim_csv *c, int64_t *ts_ms, double *value, char *err, size_t errlen);

void sim_csv_free(struct sim_csv *c);

#endif
