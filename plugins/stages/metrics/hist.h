/*
 * hist: the fixed buckets of the latency and time-to-first-byte histograms,
 * and percentiles read from them. The buckets never grow: a request adds one
 * to every bucket whose bound it fits under (Prometheus' cumulative buckets),
 * so memory stays the same whatever the traffic. No I/O, no globals.
 */
#ifndef APX_HIST_H
#define APX_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in seconds, a 1-1.5-2-3-5-7.5 series from 1 ms to 10 min:
 * a percentile read from them is off by at most half a step (about 25 %). */
#define HIST_NBOUNDS 36
extern const double hist_bounds[HIST_NBOUNDS];
/* The bound as Prometheus' `le` label value ("0.0015"), written into buf. */
const char *hist_le(size_t i, char *buf, size_t size);

/* The q-quantile (0 < q < 1) of `count` observations whose cumulative
 * bucket counts are cum[0..HIST_NBOUNDS) (observations above the last bound
 * are in count only), interpolated linearly inside the bucket as
 * Prometheus' histogram_quantile() does. -1 when count is 0. */
double hist_quantile(const uint64_t cum[HIST_NBOUNDS], uint64_t count, double q);

#endif
