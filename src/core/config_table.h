/*
 * config_table.h - the row type of the settings table (config_table.c);
 * shared by config.c only.
 */
#ifndef KW_CORE_CONFIG_TABLE_H
#define KW_CORE_CONFIG_TABLE_H

#include <stddef.h>
#include <stdint.h>

enum config_type {
	CFG_STRING,
	CFG_INT,      /* decimal, within [min, max] */
	CFG_SIZE,     /* bytes, with optional k/M/G suffix (powers of 1024) */
	CFG_DURATION, /* seconds, with optional s/m/h/d suffix */
	CFG_BOOL,     /* true/false, yes/no, on/off, 1/0 */
};

struct config_row {
	const char *section;
	const char *key;
	enum config_type type;
	size_t offset;	  /* of the field in struct config */
	const char *def;  /* default, as text */
	int64_t min, max; /* for numeric types */
	int (*check)(const char *value, char *why, size_t whylen); /* extra validation, or NULL */
	int reloadable;						   /* SIGHUP may change it */
	const char *help;
};

extern const struct config_row config_rows[];
extern const size_t config_nrows;

#endif
