/*
 * energy.h - pure energy arithmetic: which local hours a reading's energy
 * belongs to.  No I/O, no allocation, no globals (docs/ENERGY.md states the
 * rules; tests/unit/energy/test_energy.c proves them).
 *
 * interval devices: a reading stamped t is the energy used in the interval
 *   that ends at t; it belongs wholly to the local hour containing t - 1 ms.
 * counter devices: readings are a cumulative register (kWh).  The energy
 *   between consecutive readings (t1, v1) and (t2, v2) is v2 - v1, spread
 *   over (t1, t2] in proportion to time.  A decrease is a reset or meter
 *   swap: the delta is v2 (counted from zero) and the reading is flagged.
 *
 * Thread-safety: all functions are reentrant.
 */
#ifndef KW_ENERGY_ENERGY_H
#define KW_ENERGY_ENERGY_H

#include <stdbool.h>
#include <stdint.h>

struct tz;

/* The start of the local hour an interval reading stamped t belongs to. */
int64_t energy_interval_hour(const struct tz *tz, int64_t t);

/*
 * The energy between two consecutive counter readings v1 (earlier) and v2.
 * Sets *reset to true (and returns v2) when v2 < v1, else returns v2 - v1.
 */
double energy_counter_delta(double v1, double v2, bool *reset);

/* Receives one hour's share: the hour's first instant and its kWh. */
typedef void (*energy_emit_fn)(void *ud, int64_t hour_start, double kwh);

/*
 * Spreads kwh over the local hours of tz that overlap the interval (t1, t2],
 * in proportion to the overlap, calling emit once per hour in increasing
 * order.  Requires t1 < t2.  The shares add up to kwh (the last share takes
 * the rounding remainder).
 */
void energy_spread(const struct tz *tz, int64_t t1, int64_t t2, double kwh, energy_emit_fn emit,
		   void *ud);

#endif
