/* The orientation filter of features.orientation._run, run as 8 SIMD lanes over separate time
 * chunks of one recording (see orientation._run_lanes for the layout and the stitching's reasons).
 *
 * The filter is recursive, so one recording cannot be vectorised sample by sample; but a chunk of
 * it started a few minutes early from the recording's initial bias converges to the same tilt,
 * so 8 chunks can be filtered in lock-step, one per vector lane (GCC vector extensions: portable C
 * that compiles to AVX-512 with -march=native where the machine has it, to 2x AVX2 elsewhere).
 * Per-lane branches of the scalar loop are masks and bitwise blends; the block and correction
 * periods are the same in every lane (iteration j of lane l is sample start[l] + j), so they stay
 * branches. Each lane's arithmetic follows _run's, in the same order.
 *
 * One function, run_lanes(...) -> bool; the heading stitching at the joins happens here too.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __AVX512DQ__
#include <immintrin.h>
#endif

#define NL 8          /* lanes */
#define CH 32         /* samples per lane moved into the lane-major buffer at a time */
#ifndef PF
#define PF 4          /* chunks prefetched ahead */
#endif
#define NC 20         /* bin columns */
#define NP 21         /* filter parameters (orientation._raw_params_array) */

typedef double v8d __attribute__((vector_size(64)));
typedef int64_t v8l __attribute__((vector_size(64)));

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* m ? a : b with m all ones or all zeros per lane (the C vector extension has no ternary) */
ALWAYS_INLINE v8d sel(v8l m, v8d a, v8d b) { return (v8d)((m & (v8l)a) | (~m & (v8l)b)); }
ALWAYS_INLINE v8d sel0(v8l m, v8d a) { return (v8d)(m & (v8l)a); }
ALWAYS_INLINE v8d vmax(v8d a, v8d b) { return sel(a > b, a, b); }
ALWAYS_INLINE v8d splat(double x) { return (v8d){x, x, x, x, x, x, x, x}; }

ALWAYS_INLINE v8d vsqrt(v8d a) {
#ifdef __AVX512F__
    return (v8d)_mm512_sqrt_pd((__m512d)a);
#else
    v8d r;
    for (int k = 0; k < NL; k++) r[k] = sqrt(a[k]);
    return r;
#endif
}

/* q (x) (1, h) * m: one gyro integration step (h = half the rotation vector of the step) with the
 * norm factor m (orientation._gyro_step) */
ALWAYS_INLINE void gyro_step(v8d *qw, v8d *qx, v8d *qy, v8d *qz, v8d hx, v8d hy, v8d hz, v8d m) {
    v8d w = *qw, x = *qx, y = *qy, z = *qz;
    *qw = (w - x * hx - y * hy - z * hz) * m;
    *qx = (x + w * hx + y * hz - z * hy) * m;
    *qy = (y + w * hy - x * hz + z * hx) * m;
    *qz = (z + w * hz + x * hy - y * hx) * m;
}

/* bit k set if lane k of the mask is set */
ALWAYS_INLINE unsigned lanes_of(v8l m) {
#ifdef __AVX512DQ__
    return (unsigned)_mm512_movepi64_mask((__m512i)m);
#else
    unsigned r = 0;
    for (int k = 0; k < NL; k++) r |= (m[k] != 0) << k;
    return r;
#endif
}

ALWAYS_INLINE double ld(const void *p, Py_ssize_t i, int f32) {
    return f32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

/* A lane's bin: its register sums (columns 0-3, 9-17, 19 of the bin layout). */
typedef struct {
    double v[NC];
} BinSums;

static const int SUM_COLS[14] = {0, 1, 2, 3, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19};

/* orientation._flush_bin for one lane: store (b > last_b) or add with hemisphere alignment
 * (a revisit); out is column-major (n_bins, 20). */
static void add_bin(double *out, Py_ssize_t n_bins, int64_t b, const double *s, int add) {
    double v[NC];
    memcpy(v, s, sizeof v);
    if (add && out[b + 19 * n_bins] > 0.0) { /* a row never stored holds only its zero count */
        if (v[0] * out[b] + v[1] * out[b + n_bins] + v[2] * out[b + 2 * n_bins] + v[3] * out[b + 3 * n_bins] <
            0.0) {
            for (int c = 0; c < 4; c++) v[c] = -v[c];
        }
        for (int k = 0; k < 14; k++) {
            int c = SUM_COLS[k];
            double o = out[b + c * n_bins];
            v[c] = c == 10 ? (o > v[c] ? o : v[c]) : v[c] + o;
        }
    }
    for (int k = 0; k < 14; k++) {
        int c = SUM_COLS[k];
        out[b + c * n_bins] = v[c];
    }
}

/* left-multiply quaternion (w, x, y, z) in place by the yaw (cos h/2, 0, 0, sin h/2) = (tw, tz) */
static inline void yaw_left(double tw, double tz, double *w, double *x, double *y, double *z) {
    double nw = tw * *w - tz * *z, nx = tw * *x - tz * *y, ny = tw * *y + tz * *x, nz = tw * *z + tz * *w;
    *w = nw;
    *x = nx;
    *y = ny;
    *z = nz;
}

typedef struct {
    double tile[14][8] __attribute__((aligned(64))); /* the sums of bins 8 * tile_i ... + 7 */
    int64_t tile_i;     /* which 8 bins tile[][] holds */
    unsigned tile_mask; /* which of them were stored */
    int64_t first_bin;  /* the lane's first stored bin (kept aside in side[]), -1 before */
    int64_t last_bin;   /* highest bin the lane stored in out */
    int bad;            /* a bin outside the lane's range: time went back across lanes */
    double side[NC];    /* the first bin's sums: it may straddle the join with the lane before */
    double qjoin[4];    /* q at the end of sample own[l] - 1 (l > 0) */
    double qend[4];     /* q at the end of the lane */
    double bjoin[3];    /* gyro bias (rad/s) there */
    double bend[3];     /* gyro bias at the end of the lane */
} Lane;

/* Write a lane's tile of 8 bins to out. A column is n_bins doubles long and n_bins * 8 bytes is
 * often a multiple of 4096 (a 16-h day: 230400 bins), so one bin's 14 columns fall into the same
 * L1 cache set; stored bin by bin, each store evicted another column's line (measured: a third
 * of the lanes' time). Gathered per lane into 8 bins, each column gets one full cache line. */
static inline void tile_out(Lane *ln, double *out, Py_ssize_t n_bins) {
    if (!ln->tile_mask) return;
    int64_t base = ln->tile_i * 8;
    if (ln->tile_mask == 0xFF && base + 8 <= n_bins) {
        for (int c = 0; c < 14; c++) memcpy(out + base + SUM_COLS[c] * n_bins, ln->tile[c], 64);
    } else {
        for (int k = 0; k < 8; k++)
            if (ln->tile_mask >> k & 1)
                for (int c = 0; c < 14; c++) out[base + k + SUM_COLS[c] * n_bins] = ln->tile[c][k];
    }
    ln->tile_mask = 0;
}

/* lane k's orientation and gyro bias into q (4) and b (3): its state at a join or at its end */
static inline void capture(double *q, double *b, int k, v8d qw, v8d qx, v8d qy, v8d qz, v8d bx, v8d by, v8d bz) {
    q[0] = qw[k];
    q[1] = qx[k];
    q[2] = qy[k];
    q[3] = qz[k];
    b[0] = bx[k];
    b[1] = by[k];
    b[2] = bz[k];
}

/* a lane's bin is complete: keep the first aside, store or add the rest, check ownership */
__attribute__((noinline)) static void lane_store(Lane *ln, double *out, Py_ssize_t n_bins, int64_t b, int64_t lo_bin, int64_t hi_bin,
                       const double *s) {
    if (!(0 <= b && b < n_bins)) return;
    tile_out(ln, out, n_bins); /* rows are read and written here */
    if (b < lo_bin) {
        ln->bad = 1;
        return;
    }
    if (ln->first_bin < 0) {
        ln->first_bin = b;
        ln->last_bin = b;
        memcpy(ln->side, s, sizeof ln->side);
        return;
    }
    /* rows (first_bin, hi_bin] belong to this lane alone (hi_bin: the next lane's first bin,
     * which that lane keeps aside; lo_bin: this lane's); anything else breaks the lanes' disjoint
     * rows */
    if (b <= ln->first_bin || b > hi_bin) {
        ln->bad = 1;
        return;
    }
    add_bin(out, n_bins, b, s, b <= ln->last_bin);
    if (b > ln->last_bin) ln->last_bin = b;
}

/* Samples [st[k] + j0, st[k] + j0 + nj) of every lane k, lane-major (bt[jj][k]), gyro in rad/s.
 * Scalar loads and stores (GCC's vectorisation of this loop, strided stores, was 3x slower). */
#define TRANSPOSE(NAME, T)                                                                            \
    __attribute__((noinline, optimize("no-tree-vectorize"))) static void NAME(                       \
        const double *t, const void *acc_, const void *gyro_, const int64_t *st, int64_t j0, int64_t nj, \
        double bt[CH][NL], double bg[3][CH][NL], double ba[3][CH][NL]) {                              \
        const T *acc = acc_, *gyro = gyro_;                                                           \
        const double d2r = M_PI / 180.0;                                                              \
        for (int k = 0; k < NL; k++) {                                                                \
            Py_ssize_t i0 = (Py_ssize_t)(st[k] + j0);                                                 \
            const double *tp = t + i0;                                                                \
            const T *gp = gyro + 3 * i0, *ap = acc + 3 * i0;                                          \
            /* 24 input streams are more than the hardware prefetcher follows: ask PF chunks ahead */ \
            for (int64_t b = 0; b < (int64_t)(CH * sizeof(double)); b += 64)                        \
                __builtin_prefetch((const char *)(tp + PF * CH) + b);                                 \
            for (int64_t b = 0; b < (int64_t)(3 * CH * sizeof(T)); b += 64) {                        \
                __builtin_prefetch((const char *)(gp + 3 * PF * CH) + b);                             \
                __builtin_prefetch((const char *)(ap + 3 * PF * CH) + b);                             \
            }                                                                                         \
            for (int64_t jj = 0; jj < nj; jj++) {                                                     \
                bt[jj][k] = tp[jj];                                                                   \
                bg[0][jj][k] = (double)gp[3 * jj] * d2r;                                              \
                bg[1][jj][k] = (double)gp[3 * jj + 1] * d2r;                                          \
                bg[2][jj][k] = (double)gp[3 * jj + 2] * d2r;                                          \
                ba[0][jj][k] = (double)ap[3 * jj];                                                    \
                ba[1][jj][k] = (double)ap[3 * jj + 1];                                                \
                ba[2][jj][k] = (double)ap[3 * jj + 2];                                                \
            }                                                                                         \
        }                                                                                             \
    }
TRANSPOSE(transpose_f32, float)
TRANSPOSE(transpose_f64, double)

#define LOAD_PARAMS                                            \
    const double d2r = M_PI / 180.0;                           \
    const double kp = pr[0], ki = pr[1];                       \
    const double acc_tol2 = (1.0 + pr[2]) * (1.0 + pr[2]);    \
    const double tau_acc = pr[3];                              \
    const double rest_g2 = (pr[4] * d2r) * (pr[4] * d2r);      \
    const double rest_a2 = pr[5] * pr[5];                      \
    const double rest_time = pr[6], tau_bias = pr[7];          \
    const double gap_s = pr[8], init_s = pr[9];                \
    const double rest_tilt2 = (pr[10] * d2r) * (pr[10] * d2r); \
    const int forward = pr[11] > 0.5;

ALWAYS_INLINE int kernel(const double *t, const void *acc, const void *gyro, const int f32, const double *pr,
                         double t_origin, double bin_s, double *out, Py_ssize_t n_bins, double *bias,
                         Py_ssize_t n, int L, const int64_t *start, const int64_t *own, const int64_t *end, int64_t M,
                         const int64_t *hi_bin, Lane *lanes) {
    LOAD_PARAMS
    double dt = (t[n - 1] - t[0]) / (double)(n - 1 > 1 ? n - 1 : 1);
    if (dt <= 0.0) dt = 0.02;
    int64_t kbl = (int64_t)(pr[12] / dt + 0.5);
    const int64_t k_block = kbl > 1 ? kbl : 1;
    const double inv_k = 1.0 / (double)k_block;
    const double tb = (double)k_block * dt;
    const double a_lp = tb / (0.5 + tb);
    const double b_rest = tb / (tau_bias + tb);
    const double b_rest_long = tb / (pr[15] + tb);
    const double rest_long = pr[14];
    int64_t kcl = (int64_t)(pr[13] / tb + 0.5);
    const int64_t k_corr = kcl > 1 ? kcl : 1;
    const double tc = (double)k_corr * tb;
    const double b_acc = tc / (tau_acc + tc);
    const double b_init = tc / (0.05 + tc);
    const double kpe_init = 10.0 * kp < 1.0 / tc ? 10.0 * kp : 1.0 / tc;
    const double hdt = 0.5 * dt;
    const double fast_r2 = (pr[16] * d2r) * (pr[16] * d2r);
    const double quiet_r2 = (pr[17] * d2r) * (pr[17] * d2r);
    const double quiet_a2 = pr[18] * pr[18];
    const double b_quiet = tc / (pr[19] + tc);
    const double kp_quiet = pr[20];
    const double inv_bin = 1.0 / bin_s;
    const double r2d = 180.0 / M_PI; /* a multiplication: a vector division takes 5x longer */

    int64_t st[NL], ownj[NL], endj[NL], lob[NL], hib[NL];
    v8d qw, qx, qy, qz, lax, lay, laz, tprev;
    for (int k = 0; k < NL; k++) {
        int l = k < L ? k : 0; /* spare lanes repeat lane 0 and store nothing */
        st[k] = start[l];
        ownj[k] = k < L ? own[l] - start[l] : M + 1;
        endj[k] = k < L ? end[l] - start[l] : M + 1; /* bins are written from ownj to endj */
        lob[k] = 0 < k && k < L ? hi_bin[k - 1] : INT64_MIN; /* the lane's rows: lob .. hib */
        hib[k] = k + 1 < L ? hi_bin[k] : INT64_MAX;
        Py_ssize_t i0 = (Py_ssize_t)st[k];
        /* orientation._tilt_quat */
        double ax = ld(acc, 3 * i0, f32), ay = ld(acc, 3 * i0 + 1, f32), az = ld(acc, 3 * i0 + 2, f32);
        lax[k] = ax;
        lay[k] = ay;
        laz[k] = az;
        tprev[k] = t[i0];
        double nn = sqrt(ax * ax + ay * ay + az * az), w0 = 1.0, x0 = 0.0, y0 = 0.0;
        if (nn >= 1e-9) {
            ax /= nn;
            ay /= nn;
            az /= nn;
            double w = 1.0 + az;
            if (w < 1e-9) {
                w0 = 0.0;
                x0 = 1.0;
            } else {
                double m = sqrt(w * w + ay * ay + ax * ax);
                w0 = w / m;
                x0 = ay / m;
                y0 = -ax / m;
            }
        }
        qw[k] = w0;
        qx[k] = x0;
        qy[k] = y0;
        qz[k] = 0.0;
        /* the join and end states are captured after the sample before them; a lane that owns
         * its first sample (own == start) joins with its initial state */
        const double q_init[4] = {w0, x0, y0, 0.0};
        memcpy(lanes[k].qjoin, q_init, sizeof q_init);
        memcpy(lanes[k].qend, q_init, sizeof q_init);
        memcpy(lanes[k].bjoin, bias, 3 * sizeof(double));
        memcpy(lanes[k].bend, bias, 3 * sizeof(double));
        lanes[k].first_bin = -1;
        lanes[k].tile_i = -1;
        lanes[k].tile_mask = 0;
        lanes[k].last_bin = -1;
        lanes[k].bad = 0;
    }
    v8l ownv, endv;
    for (int k = 0; k < NL; k++) {
        ownv[k] = ownj[k];
        endv[k] = endj[k];
    }
    v8d q0w = qw, q0x = qx, q0y = qy, q0z = qz;
    v8d bx = splat(bias[0]), by = splat(bias[1]), bz = splat(bias[2]);
    v8d rax = lax, ray = lay, raz = laz;
    v8d gex = splat(0.0), gey = splat(0.0), gez = splat(1.0);
    v8d rest = splat(0.0), init_left = splat(init_s);
    const v8d zero = splat(0.0);
    v8d sgx = zero, sgy = zero, sgz = zero, sgg = zero, sax = zero, say = zero, saz = zero, saa = zero;
    v8d eax = zero, eay = zero, eaz = zero, ecnt = zero, cex = zero, cey = zero, cez = zero, ccnt = zero;
    v8d peak_r2 = zero, peak_a2 = zero;
    v8d sqw = zero, sqx = zero, sqy = zero, sqz = zero, s9 = zero, s10 = zero, s11 = zero, s12 = zero;
    v8d s13 = zero, s14 = zero, s15 = zero, s16 = zero, s17 = zero, s19 = zero;
    v8l cur_b;
    for (int k = 0; k < NL; k++) cur_b[k] = -1;
    int64_t kb = 0, kc = 0;
    /* the next iteration at which a lane's own part starts (its bin sums so far are warm-up) or
     * ends (it runs on to keep the lanes in lock-step, writing nothing) */
    int64_t next_own = M + 1;
    for (int k = 0; k < NL; k++) {
        if (ownj[k] > 0 && ownj[k] < next_own) next_own = ownj[k];
        if (endj[k] > 0 && endj[k] < next_own) next_own = endj[k];
    }

    double bt[CH][NL] __attribute__((aligned(64)));
    double bg[3][CH][NL] __attribute__((aligned(64)));
    double ba[3][CH][NL] __attribute__((aligned(64)));
    for (int64_t j0 = 0; j0 < M; j0 += CH) {
        int64_t nj = M - j0 < CH ? M - j0 : CH;
        /* lane-major copy of the next samples: a vector load per channel in the loop below */
        if (f32)
            transpose_f32(t, acc, gyro, st, j0, nj, bt, bg, ba);
        else
            transpose_f64(t, acc, gyro, st, j0, nj, bt, bg, ba);
        for (int64_t jj = 0; jj < nj; jj++) {
            const int64_t j = j0 + jj;
            v8d ti, gx, gy, gz, ax, ay, az;
            memcpy(&ti, bt[jj], sizeof ti);
            memcpy(&gx, bg[0][jj], sizeof gx);
            memcpy(&gy, bg[1][jj], sizeof gy);
            memcpy(&gz, bg[2][jj], sizeof gz);
            memcpy(&ax, ba[0][jj], sizeof ax);
            memcpy(&ay, ba[1][jj], sizeof ay);
            memcpy(&az, ba[2][jj], sizeof az);
            init_left = sel(ti - tprev > gap_s, splat(init_s), init_left);
            tprev = ti;
            v8d ax2 = ax * ax, ay2 = ay * ay, az2 = az * az;
            v8d am2 = ax2 + ay2 + az2;
            sgx += gx;
            sgy += gy;
            sgz += gz;
            sgg += gx * gx + gy * gy + gz * gz;
            sax += ax;
            say += ay;
            saz += az;
            saa += am2;
            v8l accm = (am2 <= acc_tol2) | (init_left > 0.0);
            v8d tx = 2.0 * (qy * az - qz * ay);
            v8d ty = 2.0 * (qz * ax - qx * az);
            v8d tz = 2.0 * (qx * ay - qy * ax);
            eax += sel0(accm, ax + qw * tx + qy * tz - qz * ty);
            eay += sel0(accm, ay + qw * ty + qz * tx - qx * tz);
            eaz += sel0(accm, az + qw * tz + qx * ty - qy * tx);
            ecnt += sel0(accm, splat(1.0));
            v8d wx = gx - bx, wy = gy - by, wz = gz - bz;
            v8d hx = hdt * wx, hy = hdt * wy, hz = hdt * wz;
            v8d m = 1.5 - 0.5 * (qw * qw + qx * qx + qy * qy + qz * qz);
            if (!forward) gyro_step(&qw, &qx, &qy, &qz, hx, hy, hz, m);
            v8l b = __builtin_convertvector((ti - t_origin) * inv_bin, v8l);
            v8l chg = b != cur_b;
            if (__builtin_expect(j == next_own, 0)) {
                chg |= (ownv == j) | (endv == j);
                int64_t nx = M + 1;
                for (int k = 0; k < NL; k++) {
                    if (ownj[k] > j && ownj[k] < nx) nx = ownj[k];
                    if (endj[k] > j && endj[k] < nx) nx = endj[k];
                }
                next_own = nx;
            }
            unsigned fl = lanes_of(chg);
            if (fl) {
                /* scalar stores of the lanes whose bin changed (about 2 in 3 iterations) */
                double sv[14][NL] __attribute__((aligned(64)));
                memcpy(sv[0], &sqw, 64);
                memcpy(sv[1], &sqx, 64);
                memcpy(sv[2], &sqy, 64);
                memcpy(sv[3], &sqz, 64);
                memcpy(sv[4], &s9, 64);
                memcpy(sv[5], &s10, 64);
                memcpy(sv[6], &s11, 64);
                memcpy(sv[7], &s12, 64);
                memcpy(sv[8], &s13, 64);
                memcpy(sv[9], &s14, 64);
                memcpy(sv[10], &s15, 64);
                memcpy(sv[11], &s16, 64);
                memcpy(sv[12], &s17, 64);
                memcpy(sv[13], &s19, 64);
                for (unsigned f = fl; f; f &= f - 1) {
                    int k = __builtin_ctz(f);
                    int64_t cb = cur_b[k];
                    Lane *ln = &lanes[k];
                    if (j <= ownj[k] || j > endj[k]) continue; /* warm-up or past the end: no bins */
                    if (__builtin_expect(cb > ln->last_bin && cb <= hib[k] && cb < n_bins && ln->first_bin >= 0, 1)) {
                        /* the usual case: the lane's next bin, stored without reading its row */
                        int64_t ti8 = cb >> 3;
                        int slot = (int)(cb & 7);
                        ln->last_bin = cb;
                        if (ti8 != ln->tile_i) {
                            tile_out(ln, out, n_bins);
                            ln->tile_i = ti8;
                        }
                        ln->tile_mask |= 1u << slot;
                        for (int c = 0; c < 14; c++) ln->tile[c][slot] = sv[c][k];
                    } else {
                        double s[NC];
                        for (int c = 0; c < 14; c++) s[SUM_COLS[c]] = sv[c][k];
                        lane_store(ln, out, n_bins, cb, lob[k], hib[k], s);
                    }
                }
                v8l keep = ~chg;
                sqw = sel0(keep, sqw);
                sqx = sel0(keep, sqx);
                sqy = sel0(keep, sqy);
                sqz = sel0(keep, sqz);
                s9 = sel0(keep, s9);
                s10 = sel0(keep, s10);
                s11 = sel0(keep, s11);
                s12 = sel0(keep, s12);
                s13 = sel0(keep, s13);
                s14 = sel0(keep, s14);
                s15 = sel0(keep, s15);
                s16 = sel0(keep, s16);
                s17 = sel0(keep, s17);
                s19 = sel0(keep, s19);
                cur_b = b;
            }
            v8d wd = vsqrt(wx * wx + wy * wy + wz * wz) * r2d;
            sqw += qw;
            sqx += qx;
            sqy += qy;
            sqz += qz;
            s9 += wd;
            s10 = vmax(wd, s10);
            s11 += ax;
            s12 += ay;
            s13 += az;
            s14 += ax2;
            s15 += ay2;
            s16 += az2;
            s17 += vsqrt(am2);
            s19 += 1.0;
            if (forward) gyro_step(&qw, &qx, &qy, &qz, hx, hy, hz, m);
            if (++kb >= k_block) {
                /* ---- block update: rest / gyro bias; tilt correction every correct_s ---- */
                v8d mgx = sgx * inv_k, mgy = sgy * inv_k, mgz = sgz * inv_k;
                v8d mg2 = mgx * mgx + mgy * mgy + mgz * mgz;
                v8d var_g = sgg * inv_k - mg2;
                v8d max_ = sax * inv_k, may = say * inv_k, maz = saz * inv_k;
                v8d var_a = saa * inv_k - (max_ * max_ + may * may + maz * maz);
                lax += a_lp * (max_ - lax);
                lay += a_lp * (may - lay);
                laz += a_lp * (maz - laz);
                v8d rdx = lax - rax, rdy = lay - ray, rdz = laz - raz;
                v8l restm = (var_g < rest_g2) & (mg2 < 4.0 * rest_g2) & (var_a < rest_a2) &
                            (rdx * rdx + rdy * rdy + rdz * rdz < rest_tilt2);
                rest = sel0(restm, rest + tb);
                v8l upd = restm & (rest > rest_time);
                v8d br = sel(rest > rest_long, splat(b_rest_long), splat(b_rest));
                bx = sel(upd, bx + br * (mgx - bx), bx);
                by = sel(upd, by + br * (mgy - by), by);
                bz = sel(upd, bz + br * (mgz - bz), bz);
                rax = sel(restm, rax, lax);
                ray = sel(restm, ray, lay);
                raz = sel(restm, raz, laz);
                if (++kc >= k_corr) {
                    kc = 0;
                    v8l fastm = peak_r2 > fast_r2;
                    v8l quietm = (peak_r2 <= quiet_r2) & (peak_a2 <= quiet_a2);
                    v8l initm = init_left > 0.0;
                    init_left = sel(initm, init_left - tc, init_left);
                    v8d beta = sel(initm, splat(b_init), sel(quietm, splat(b_quiet), splat(b_acc)));
                    v8d kpe = sel(initm, splat(kpe_init), sel(quietm, splat(kp_quiet), splat(kp)));
                    v8l integral = ~initm & ~quietm;
                    v8l cm = ccnt > 0.0;
                    v8d inv_c = 1.0 / sel(cm, ccnt, splat(1.0));
                    gex = sel(cm, gex + beta * (cex * inv_c - gex), gex);
                    gey = sel(cm, gey + beta * (cey * inv_c - gey), gey);
                    gez = sel(cm, gez + beta * (cez * inv_c - gez), gez);
                    integral &= cm;
                    v8d lng = vsqrt(gex * gex + gey * gey + gez * gez) + 1e-12;
                    v8d cx = kpe * tc * gey / lng;
                    v8d cy = -kpe * tc * gex / lng;
                    v8d ngx = gex + cy * gez;
                    v8d ngy = gey - cx * gez;
                    gez = gez + cx * gey - cy * gex;
                    gex = ngx;
                    gey = ngy;
                    v8l im = integral & ~fastm;
                    if (lanes_of(im)) {
                        v8d n2 = q0w * q0w + q0x * q0x + q0y * q0y + q0z * q0z;
                        v8d s = 2.0 * (2.0 - n2);
                        v8d p00 = 1.0 - s * (q0y * q0y + q0z * q0z);
                        v8d p01 = s * (q0x * q0y - q0w * q0z);
                        v8d p02 = s * (q0x * q0z + q0w * q0y);
                        v8d p10 = s * (q0x * q0y + q0w * q0z);
                        v8d p11 = 1.0 - s * (q0x * q0x + q0z * q0z);
                        v8d p12 = s * (q0y * q0z - q0w * q0x);
                        bx -= sel0(im, ki * (p00 * cx + p10 * cy));
                        by -= sel0(im, ki * (p01 * cx + p11 * cy));
                        bz -= sel0(im, ki * (p02 * cx + p12 * cy));
                    }
                    v8d dn = 1.0 - 0.125 * (cx * cx + cy * cy);
                    v8d chx = 0.5 * cx * dn, chy = 0.5 * cy * dn;
                    v8d pw = dn * qw - chx * qx - chy * qy;
                    v8d px = dn * qx + chx * qw + chy * qz;
                    v8d py = dn * qy + chy * qw - chx * qz;
                    v8d pz = dn * qz + chx * qy - chy * qx;
                    qw = pw;
                    qx = px;
                    qy = py;
                    qz = pz;
                    v8d nex = eax + cy * eaz;
                    v8d ney = eay - cx * eaz;
                    eaz = eaz + cx * eay - cy * eax;
                    eax = nex;
                    eay = ney;
                    cex = cey = cez = ccnt = zero;
                    peak_r2 = peak_a2 = zero;
                }
                peak_r2 = vmax(peak_r2, sgg * inv_k);
                peak_a2 = vmax(peak_a2, var_a);
                cex += eax;
                cey += eay;
                cez += eaz;
                ccnt += ecnt;
                eax = eay = eaz = ecnt = zero;
                kb = 0;
                sgx = sgy = sgz = sgg = zero;
                sax = say = saz = saa = zero;
                q0w = qw;
                q0x = qx;
                q0y = qy;
                q0z = qz;
            }
            if (__builtin_expect(j + 1 == next_own, 0)) {
                /* a join: the orientation after the sample before the later lane's own part, in
                 * both lanes */
                for (int k = 0; k < NL; k++) {
                    if (ownj[k] == j + 1)
                        capture(lanes[k].qjoin, lanes[k].bjoin, k, qw, qx, qy, qz, bx, by, bz);
                    if (endj[k] == j + 1)
                        capture(lanes[k].qend, lanes[k].bend, k, qw, qx, qy, qz, bx, by, bz);
                }
            }
        }
    }
    for (int k = 0; k < L; k++) {
        if (endj[k] != M) continue; /* stored at its end */
        double s[NC];
        v8d sv[14] = {sqw, sqx, sqy, sqz, s9, s10, s11, s12, s13, s14, s15, s16, s17, s19};
        for (int c = 0; c < 14; c++) s[SUM_COLS[c]] = sv[c][k];
        lane_store(&lanes[k], out, n_bins, cur_b[k], lob[k], hib[k], s);
    }
    for (int k = 0; k < L; k++) tile_out(&lanes[k], out, n_bins); /* the lanes that ended earlier */
    bias[0] = bx[L - 1];
    bias[1] = by[L - 1];
    bias[2] = bz[L - 1];
    for (int k = 0; k < L; k++)
        if (lanes[k].bad) return 0;
    return 1;
}

/* The largest difference (deg/s) between the heading rates two neighbouring lanes' gyro biases
 * give at their join: the later lane started from the recording's first bias, and unless its
 * warm-up's rests taught it the bias the lane before had learnt by then, the difference turns its
 * heading until its next rest. Only the bias component about the vertical turns the heading (the
 * tilt correction holds the horizontal ones to hundredths of a degree). */
static double max_join_drift_dps(int L, const Lane *lanes) {
    double worst = 0.0;
    for (int l = 1; l < L; l++) {
        const double *q = lanes[l].qjoin;
        /* earth 'up' in sensor coordinates: the third row of R(q) */
        double ux = 2.0 * (q[1] * q[3] - q[0] * q[2]);
        double uy = 2.0 * (q[2] * q[3] + q[0] * q[1]);
        double uz = q[0] * q[0] - q[1] * q[1] - q[2] * q[2] + q[3] * q[3];
        double nn = sqrt(ux * ux + uy * uy + uz * uz);
        if (!(nn > 0.0)) return INFINITY;
        double d = ((lanes[l].bjoin[0] - lanes[l - 1].bend[0]) * ux + (lanes[l].bjoin[1] - lanes[l - 1].bend[1]) * uy +
                    (lanes[l].bjoin[2] - lanes[l - 1].bend[2]) * uz) / nn;
        d = fabs(d) * (180.0 / M_PI);
        if (isnan(d)) return NAN; /* not consistent, whatever the other joins say */
        if (d > worst) worst = d;
    }
    return worst;
}

/* Heading stitching: lane l's heading is arbitrary, so turn it (and the lanes after it) about
 * earth z by the yaw between lane l-1 and lane l at the join; then merge each lane's first bin
 * (kept aside: it may hold the lane before's last samples too). */
static void stitch(double *out, Py_ssize_t n_bins, int L, Lane *lanes) {
    double tw = 1.0, tz = 0.0; /* cumulative yaw (cos h/2, sin h/2) */
    for (int l = 0; l < L; l++) {
        Lane *ln = &lanes[l];
        if (l > 0) {
            /* r = q_prev q_l*: the earth-frame rotation from lane l's frame to lane l-1's;
             * its twist about z (w, 0, 0, z normalised) is the heading offset */
            const double *a = lanes[l - 1].qend, *b = ln->qjoin;
            double rw = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
            double rz = -a[0] * b[3] + a[3] * b[0] - a[1] * b[2] + a[2] * b[1];
            double nn = sqrt(rw * rw + rz * rz);
            if (nn > 1e-12) {
                rw /= nn;
                rz /= nn;
                double ntw = tw * rw - tz * rz, ntz = tw * rz + tz * rw;
                tw = ntw;
                tz = ntz;
            }
        }
        if (ln->first_bin < 0) continue;
        if (l > 0) {
            for (int64_t b = ln->first_bin + 1; b <= ln->last_bin; b++) {
                if (out[b + 19 * n_bins] <= 0.0) continue;
                yaw_left(tw, tz, &out[b], &out[b + n_bins], &out[b + 2 * n_bins], &out[b + 3 * n_bins]);
            }
            yaw_left(tw, tz, &ln->side[0], &ln->side[1], &ln->side[2], &ln->side[3]);
        }
    }
    for (int l = 0; l < L; l++)
        if (lanes[l].first_bin >= 0) add_bin(out, n_bins, lanes[l].first_bin, lanes[l].side, 1);
}

/* a C-contiguous buffer of floating ('f') or integer ('i') items of itemsize bytes */
static int typed(PyObject *o, Py_buffer *v, int writable, char kind, Py_ssize_t itemsize, const char *name) {
    if (PyObject_GetBuffer(o, v, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    const char *f = v->format ? v->format : "B";
    char c = f[strlen(f) - 1]; /* '<d', '=q', 'd', ... */
    int is_float = c == 'f' || c == 'd', is_int = c == 'q' || c == 'l' || c == 'Q' || c == 'L';
    if (v->itemsize != itemsize || !(kind == 'f' ? is_float : is_int)) {
        PyErr_Format(PyExc_TypeError, "run_lanes: %s must hold %zd-byte %s, got format '%s'", name, itemsize,
                     kind == 'f' ? "floats" : "integers", f);
        PyBuffer_Release(v);
        return -1;
    }
    return 0;
}

static int get(PyObject *o, Py_buffer *v, int writable, Py_ssize_t size, const char *name, char kind,
               Py_ssize_t itemsize) {
    if (typed(o, v, writable, kind, itemsize, name) < 0) return -1;
    if (v->len != size) {
        PyErr_Format(PyExc_ValueError, "run_lanes: %s has %zd bytes, expected %zd", name, v->len, size);
        PyBuffer_Release(v);
        return -1;
    }
    return 0;
}

static PyObject *run_lanes(PyObject *self, PyObject *args) {
    PyObject *ot, *oacc, *ogyro, *opr, *oout, *obias, *ostart, *oown, *oend, *ohi;
    double t_origin, bin_s;
    int f32;
    Py_ssize_t n, n_bins, M;
    if (!PyArg_ParseTuple(args, "OOOpOddOnOOOOOn", &ot, &oacc, &ogyro, &f32, &opr, &t_origin, &bin_s, &oout,
                          &n_bins, &obias, &ostart, &oown, &oend, &ohi, &M))
        return NULL;
    Py_buffer bt = {0}, bacc = {0}, bgyro = {0}, bpr = {0}, bout = {0}, bbias = {0}, bst = {0}, bown = {0},
              bend = {0}, bhi = {0};
    PyObject *res = NULL;
    if (typed(ot, &bt, 0, 'f', 8, "t") < 0) return NULL;
    n = bt.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t es = f32 ? 4 : 8;
    if (get(oacc, &bacc, 0, 3 * n * es, "acc", 'f', es) < 0) goto done;
    if (get(ogyro, &bgyro, 0, 3 * n * es, "gyro", 'f', es) < 0) goto done;
    if (get(opr, &bpr, 0, NP * 8, "params", 'f', 8) < 0) goto done;
    if (get(oout, &bout, 1, n_bins * NC * 8, "out", 'f', 8) < 0) goto done;
    if (get(obias, &bbias, 1, 3 * 8, "bias", 'f', 8) < 0) goto done;
    if (typed(ostart, &bst, 0, 'i', 8, "start") < 0) goto done;
    Py_ssize_t L = bst.len / 8;
    if (L < 1 || L > NL || n < 2 || M < 1) {
        PyErr_SetString(PyExc_ValueError, "run_lanes: 1-8 lanes of at least one sample");
        goto done;
    }
    if (get(oown, &bown, 0, L * 8, "own", 'i', 8) < 0) goto done;
    if (get(oend, &bend, 0, L * 8, "end", 'i', 8) < 0) goto done;
    if (get(ohi, &bhi, 0, L * 8, "hi_bin", 'i', 8) < 0) goto done;
    const int64_t *start = bst.buf, *own = bown.buf, *end = bend.buf;
    for (Py_ssize_t l = 0; l < L; l++) {
        if (start[l] < 0 || start[l] + M > n || own[l] < start[l] || end[l] <= own[l] || end[l] > start[l] + M ||
            (l + 1 < L && end[l] != own[l + 1]) || (l + 1 == L && end[l] != n)) {
            PyErr_SetString(PyExc_ValueError, "run_lanes: a lane outside the recording");
            goto done;
        }
    }
    Lane lanes[NL];
    int ok;
    Py_BEGIN_ALLOW_THREADS;
    if (f32)
        ok = kernel(bt.buf, bacc.buf, bgyro.buf, 1, bpr.buf, t_origin, bin_s, bout.buf, n_bins, bbias.buf, n,
                    (int)L, start, own, end, M, bhi.buf, lanes);
    else
        ok = kernel(bt.buf, bacc.buf, bgyro.buf, 0, bpr.buf, t_origin, bin_s, bout.buf, n_bins, bbias.buf, n,
                    (int)L, start, own, end, M, bhi.buf, lanes);
    if (ok) stitch(bout.buf, n_bins, (int)L, lanes);
    Py_END_ALLOW_THREADS;
    res = Py_BuildValue("(Nd)", PyBool_FromLong(ok), max_join_drift_dps((int)L, lanes));
done:
    PyBuffer_Release(&bt);
    PyBuffer_Release(&bacc);
    PyBuffer_Release(&bgyro);
    PyBuffer_Release(&bpr);
    PyBuffer_Release(&bout);
    PyBuffer_Release(&bbias);
    PyBuffer_Release(&bst);
    PyBuffer_Release(&bown);
    PyBuffer_Release(&bend);
    PyBuffer_Release(&bhi);
    return res;
}

static PyMethodDef methods[] = {
    {"run_lanes", run_lanes, METH_VARARGS,
     "run_lanes(t, acc, gyro, f32, params, t_origin, bin_s, out, n_bins, bias, start, own, end, hi_bin, M) -> (ok, join_drift_dps)\n"
     "Filter lane l over samples [start[l], start[l] + M), storing the bins of samples [own[l], end[l]) into the "
     "column-major bin sums out (transposed view (20, n_bins)); stitch the lanes' heading. ok False: a lane's "
     "bins left its range (time went back), out is unusable. join_drift_dps: the largest difference of the "
     "heading rates two neighbouring lanes' gyro biases give at their join (deg/s)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_orientation_lanes",
                                    "SIMD lanes of the orientation filter (see features.orientation).", -1,
                                    methods};

/* AVX512: whether the lanes were compiled to AVX-512 registers. Without them an 8-lane state takes
 * two AVX2 registers per value, no longer fits the 16 registers and lives on the stack: on an AVX2
 * machine (AMD EPYC, znver3) the lanes ran 3x slower than the scalar numba filter, so
 * features.orientation uses them only where this is 1. */
PyMODINIT_FUNC PyInit__orientation_lanes(void) {
    PyObject *m = PyModule_Create(&module);
#ifdef __AVX512F__
    const int avx512 = 1;
#else
    const int avx512 = 0;
#endif
    if (m != NULL && PyModule_AddIntConstant(m, "AVX512", avx512) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
