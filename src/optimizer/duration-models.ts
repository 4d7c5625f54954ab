/**
 * Duration models of the `aggressive` level, pure: a log-normal fit of a step's successful
 * durations, or a mixture of two log-normals when the durations are bimodal (a fast path and a
 * slow one), chosen by BIC. A model gives quantiles (for timeouts and hedging thresholds), a CDF
 * and samples (for predicting makespan and concurrent demand).
 */

/** One log-normal component: ln(duration) ~ Normal(mu, sigma), with its share of the samples. */
export interface LogNormalComponent {
  weight: number;
  mu: number;
  sigma: number;
}

/** A fitted duration model. A `lognormal` model has one component, a `mixture` two. */
export interface DurationModel {
  kind: "lognormal" | "mixture";
  components: LogNormalComponent[];
  samples: number;
  /** Bayesian information criterion of the fit (lower is better), in log-duration space. */
  bic: number;
}

/** Durations under this many ms are taken as this many: ln(0) is not a number. */
const FLOOR_MS = 0.1;
/** Narrowest component: constant durations still give a proper distribution. */
const MIN_SIGMA = 0.01;
/** Fewest samples for a mixture, and the least share of its smaller component. */
const MIXTURE_MIN_SAMPLES = 20;
const MIXTURE_MIN_WEIGHT = 0.03;
/** How much lower (better) the mixture's BIC must be: "strong" evidence on the usual scale. */
const MIXTURE_BIC_MARGIN = 6;

const logs = (durationsMs: readonly number[]) => durationsMs.map((d) => Math.log(Math.max(d, FLOOR_MS)));

/** Log-normal maximum-likelihood fit (sigma at least 0.01). Needs at least one sample. */
export function fitLogNormal(durationsMs: readonly number[]): DurationModel {
  const x = logs(durationsMs);
  const mu = x.reduce((sum, v) => sum + v, 0) / x.length;
  const sigma = Math.max(MIN_SIGMA, Math.sqrt(x.reduce((sum, v) => sum + (v - mu) ** 2, 0) / x.length));
  const components = [{ weight: 1, mu, sigma }];
  return { kind: "lognormal", components, samples: x.length, bic: bic(x, components, 2) };
}

/** Two-component log-normal mixture by expectation-maximisation, started from the lower and upper quartiles. */
export function fitMixture(durationsMs: readonly number[], iterations = 200): DurationModel {
  const x = logs(durationsMs);
  const sorted = [...x].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  const spread = Math.max(MIN_SIGMA, (at(0.75) - at(0.25)) / 2);
  let components: LogNormalComponent[] = [
    { weight: 0.5, mu: at(0.25), sigma: spread },
    { weight: 0.5, mu: at(0.75), sigma: spread },
  ];
  let previous = -Infinity;
  for (let round = 0; round < iterations; round++) {
    const responsibilities = x.map((v) => {
      const densities = components.map((c) => c.weight * normalDensity(v, c.mu, c.sigma));
      const total = densities.reduce((sum, d) => sum + d, 0) || 1;
      return densities.map((d) => d / total);
    });
    components = components.map((_, k) => {
      const share = responsibilities.reduce((sum, r) => sum + (r[k] as number), 0);
      if (share < 1e-9) {
        return { weight: 0, mu: 0, sigma: 1 };
      }
      const mu = x.reduce((sum, v, i) => sum + (responsibilities[i]![k] as number) * v, 0) / share;
      const variance = x.reduce((sum, v, i) => sum + (responsibilities[i]![k] as number) * (v - mu) ** 2, 0) / share;
      return { weight: share / x.length, mu, sigma: Math.max(MIN_SIGMA, Math.sqrt(variance)) };
    });
    const likelihood = logLikelihood(x, components);
    if (Math.abs(likelihood - previous) < 1e-7) {
      break;
    }
    previous = likelihood;
  }
  components.sort((a, b) => a.mu - b.mu);
  return { kind: "mixture", components, samples: x.length, bic: bic(x, components, 5) };
}

/**
 * The model of `durationsMs`: the mixture when the sample is large enough, both modes hold a real
 * share and its BIC is clearly lower; the log-normal otherwise. Null for an empty sample.
 */
export function fitDurationModel(durationsMs: readonly number[]): DurationModel | null {
  if (durationsMs.length === 0) {
    return null;
  }
  const single = fitLogNormal(durationsMs);
  if (durationsMs.length < MIXTURE_MIN_SAMPLES) {
    return single;
  }
  const mixture = fitMixture(durationsMs);
  const separated = mixture.components.every((c) => c.weight >= MIXTURE_MIN_WEIGHT);
  return separated && mixture.bic + MIXTURE_BIC_MARGIN < single.bic ? mixture : single;
}

/** P(duration ≤ ms) under the model. */
export function modelCdf(model: DurationModel, ms: number): number {
  if (ms <= 0) {
    return 0;
  }
  const x = Math.log(ms);
  return model.components.reduce((sum, c) => sum + c.weight * normalCdf((x - c.mu) / c.sigma), 0);
}

/** The duration in ms below which a share `p` (0 < p < 1) of attempts finish, by bisection on the CDF. */
export function modelQuantile(model: DurationModel, p: number): number {
  if (model.components.length === 1) {
    const c = model.components[0] as LogNormalComponent;
    return Math.exp(c.mu + c.sigma * inverseNormalCdf(p));
  }
  let low = Math.min(...model.components.map((c) => c.mu - 12 * c.sigma));
  let high = Math.max(...model.components.map((c) => c.mu + 12 * c.sigma));
  for (let step = 0; step < 100; step++) {
    const middle = (low + high) / 2;
    if (modelCdf(model, Math.exp(middle)) < p) {
      low = middle;
    } else {
      high = middle;
    }
  }
  return Math.exp((low + high) / 2);
}

/** Mean duration in ms: Σ weight · exp(mu + sigma²/2). */
export function modelMean(model: DurationModel): number {
  return model.components.reduce((sum, c) => sum + c.weight * Math.exp(c.mu + (c.sigma * c.sigma) / 2), 0);
}

/** One duration drawn from the model with `random` (uniform in [0, 1)). */
export function sampleDuration(model: DurationModel, random: () => number): number {
  let pick = random();
  let component = model.components[model.components.length - 1] as LogNormalComponent;
  for (const c of model.components) {
    if (pick < c.weight) {
      component = c;
      break;
    }
    pick -= c.weight;
  }
  const u = Math.max(random(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return Math.exp(component.mu + component.sigma * z);
}

/** A seeded uniform generator (mulberry32): the same seed gives the same predictions. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normalDensity(x: number, mu: number, sigma: number): number {
  return Math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * Math.sqrt(2 * Math.PI));
}

function logLikelihood(x: readonly number[], components: readonly LogNormalComponent[]): number {
  return x.reduce(
    (sum, v) =>
      sum +
      Math.log(
        Math.max(
          1e-300,
          components.reduce((d, c) => d + c.weight * normalDensity(v, c.mu, c.sigma), 0),
        ),
      ),
    0,
  );
}

function bic(x: readonly number[], components: readonly LogNormalComponent[], parameters: number): number {
  return parameters * Math.log(x.length) - 2 * logLikelihood(x, components);
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf: error under 1.5e-7). */
export function normalCdf(z: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Standard normal quantile (Acklam's rational approximation: relative error under 1.2e-9). */
export function inverseNormalCdf(p: number): number {
  if (p <= 0) {
    return -Infinity;
  }
  if (p >= 1) {
    return Infinity;
  }
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const poly = (k: number[], v: number) => k.reduce((sum, coefficient) => sum * v + coefficient, 0);
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - 0.02425) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -poly(c, q) / (poly(d, q) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}
