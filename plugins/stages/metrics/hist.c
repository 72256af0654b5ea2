/*
 * hist: bucket bounds and quantiles (see hist.h).
 */
#include <stdio.h>

#include "hist.h"

const double hist_bounds[HIST_NBOUNDS] = {
    0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
    0.01,  0.015,  0.02,  0.03,  0.05,  0.075,
    0.1,   0.15,   0.2,   0.3,   0.5,   0.75,
    1,     1.5,    2,     3,     5,     7.5,
    10,    15,     20,    30,    50,    75,
    100,   150,    200,   300,   450,   600,
};

const char *hist_le(size_t i, char *buf, size_t size)
{
    if (i >= HIST_NBOUNDS)
        snprintf(buf, size, "+Inf");
    else
        snprintf(buf, size, "%g", hist_bounds[i]);
    return buf;
}

double hist_quantile(const uint64_t cum[HIST_NBOUNDS], uint64_t count, double q)
{
    if (count == 0)
        return -1;
    double rank = q * (double)count;
    double lower = 0;
    uint64_t below = 0;
    for (size_t i = 0; i < HIST_NBOUNDS; i++) {
        if ((double)cum[i] >= rank) {
            uint64_t in = cum[i] - below;
            double frac = in ? (rank - (double)below) / (double)in : 1;
            return lower + (hist_bounds[i] - lower) * frac;
        }
        lower = hist_bounds[i];
        below = cum[i];
    }
    /* in the open bucket above the last bound: that bound is all we know */
    return hist_bounds[HIST_NBOUNDS - 1];
}
