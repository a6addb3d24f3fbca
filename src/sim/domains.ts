/**
 * Appearance domains. A domain changes how the world looks (light, weather, sensor, paint),
 * never where things are — except `camshift` (camera height / field of view) and `newpaint`
 * (lane-line width), whose ground truth follows the changed geometry.
 * The appearance is drawn from its own random stream, so the same seed gives the same
 * world in every domain, and different seeds vary lighting within a domain.
 */
import { PerceptionError } from '../core/errors.js';
import { deriveSeed, Rng } from './rng.js';
import type { Vec3 } from './camera.js';

export type Domain = 'day' | 'dusk' | 'night' | 'fog' | 'rain' | 'newpaint' | 'camshift';
export const DOMAINS: readonly Domain[] = ['day', 'dusk', 'night', 'fog', 'rain', 'newpaint', 'camshift'];

export type Rgb = [number, number, number];

export interface Look {
  domain: Domain;
  /** Unit vector towards the sun (world frame). */
  sun: Vec3;
  sunColour: Rgb;
  /** Light from the sky on an up-facing surface; sides get 60%. */
  ambient: Rgb;
  skyZenith: Rgb;
  skyHorizon: Rgb;
  cloudCover: number;
  /** Multiplier applied before the tone curve. */
  exposure: number;
  /** Extinction coefficient (1/m) of fog/haze; colour it fades to. */
  fogDensity: number;
  fogColour: Rgb;
  /** 0 dry … 1 soaked: darker, more reflective road, rain streaks. */
  wet: number;
  /** Rain's sheen, spray and water on the lens (rain.ts); null in every other domain. */
  rain: RainLook | null;
  /** Headlights and tail-lights on, ego headlights light the road. */
  lightsOn: boolean;
  streetLights: boolean;
  /** Standard deviation of sensor noise in 8-bit units. */
  noise: number;
  asphalt: Rgb;
  grass: Rgb;
  white: Rgb;
  yellow: Rgb;
  /** Multiplies the road's line width (ground truth follows). */
  lineWidthScale: number;
  /** Camera overrides (ground truth follows). */
  cameraHeight: number;
  hfov: number;
  pitch: number;
}

export function assertDomain(value: unknown, field = 'domain'): asserts value is Domain {
  if (typeof value !== 'string' || !(DOMAINS as readonly string[]).includes(value)) {
    throw new PerceptionError('INVALID_ARGUMENT', `${field} must be one of ${DOMAINS.join(', ')}, got '${String(value)}'`, { field });
  }
}

function sunFrom(elevation: number, azimuth: number): Vec3 {
  return { x: Math.cos(elevation) * Math.cos(azimuth), y: Math.cos(elevation) * Math.sin(azimuth), z: Math.sin(elevation) };
}

const scale = (c: Rgb, k: number): Rgb => [c[0] * k, c[1] * k, c[2] * k];

/** The look of one sequence: domain defaults varied by the sequence seed. */
export function makeLook(domain: Domain, seed: number): Look {
  const rng = new Rng(deriveSeed(seed, 'look'));
  const tone = rng.range(0.06, 0.16);
  const warm = rng.range(-0.01, 0.015);
  const grassDry = rng.next();
  const base: Look = {
    domain,
    sun: sunFrom(rng.range(0.5, 1.2), rng.range(-Math.PI, Math.PI)),
    sunColour: [1.0, 0.97, 0.9],
    ambient: [0.32, 0.36, 0.45],
    skyZenith: [0.15 + rng.range(-0.05, 0.05), 0.3, 0.7],
    skyHorizon: [0.6, 0.7, 0.85],
    cloudCover: rng.range(0, 0.8),
    exposure: rng.range(0.85, 1.15),
    fogDensity: rng.range(0.0005, 0.003),
    fogColour: [0.65, 0.72, 0.82],
    wet: 0,
    rain: null,
    lightsOn: false,
    streetLights: false,
    noise: rng.range(0.5, 2),
    asphalt: [tone + warm, tone, tone - warm * 0.5],
    grass: [0.08 + 0.18 * grassDry, 0.16 + 0.06 * grassDry, 0.04 + 0.04 * grassDry],
    white: [0.85, 0.85, 0.82],
    yellow: [0.8, 0.5, 0.06],
    lineWidthScale: 1,
    cameraHeight: 1.5,
    hfov: (rng.range(80, 100) * Math.PI) / 180,
    pitch: rng.range(0.01, 0.06),
  };
  switch (domain) {
    case 'day':
    case 'newpaint':
    case 'camshift':
      break;
    case 'dusk':
      base.sun = sunFrom(rng.range(0.03, 0.12), rng.range(-Math.PI, Math.PI));
      base.sunColour = [1.0, 0.55, 0.25];
      base.ambient = [0.1, 0.09, 0.13];
      base.skyZenith = [0.1, 0.1, 0.3];
      base.skyHorizon = [0.95, 0.45, 0.2];
      base.exposure *= 0.7;
      base.fogColour = [0.6, 0.4, 0.3];
      break;
    case 'night':
      base.sun = sunFrom(0.6, rng.range(-Math.PI, Math.PI)); // the moon
      base.sunColour = [0.02, 0.025, 0.035];
      base.ambient = [0.012, 0.014, 0.02];
      base.skyZenith = [0.003, 0.004, 0.01];
      base.skyHorizon = [0.02, 0.02, 0.03];
      base.cloudCover *= 0.3;
      base.fogColour = [0.02, 0.02, 0.03];
      base.lightsOn = true;
      base.streetLights = rng.chance(0.6);
      base.noise = rng.range(4, 9);
      base.exposure *= 1.5;
      break;
    case 'fog':
      base.fogDensity = rng.range(0.02, 0.07);
      base.fogColour = scale([0.72, 0.74, 0.76], rng.range(0.8, 1.1));
      base.sunColour = [0.35, 0.35, 0.35];
      base.ambient = [0.45, 0.46, 0.48];
      base.skyZenith = base.fogColour;
      base.skyHorizon = base.fogColour;
      base.cloudCover = 0;
      base.lightsOn = rng.chance(0.5);
      break;
    case 'rain': {
      // heavy overcast: dark sky, little direct light, haze, water on road and lens
      // (strengths chosen against the bundled model: docs/experiments/2026-12-06-rain.md)
      base.wet = rng.range(0.6, 1);
      const dim = rng.range(0.75, 1);
      base.sunColour = [0.12, 0.12, 0.13];
      base.ambient = scale([0.26, 0.27, 0.3], dim);
      base.skyZenith = scale([0.2, 0.21, 0.23], dim);
      base.skyHorizon = scale([0.36, 0.37, 0.39], dim);
      base.cloudCover = 1;
      base.fogDensity = rng.range(0.006, 0.015);
      base.fogColour = scale([0.36, 0.37, 0.39], dim);
      base.lightsOn = true;
      base.exposure *= 0.85;
      base.noise = rng.range(1.5, 3.5);
      base.rain = {
        sheen: rng.range(0.5, 0.9) * base.wet,
        spray: rng.range(0.5, 0.9) * base.wet,
        veil: rng.range(0.15, 0.3),
        smear: rng.range(0.5, 0.9),
        drops: rng.int(30, 60),
        skyReflection: scale([0.4, 0.41, 0.43], dim),
        sprayColour: scale([0.42, 0.43, 0.45], dim),
      };
      break;
    }
  }
  if (domain === 'newpaint') {
    base.white = rng.chance(0.5) ? [0.05, 0.25, 0.85] : [0.9, 0.35, 0.03];
    base.yellow = rng.chance(0.5) ? [0.9, 0.9, 0.9] : [0.1, 0.6, 0.2];
    base.lineWidthScale = rng.range(1.8, 2.6);
  }
  if (domain === 'camshift') {
    base.cameraHeight = rng.range(2.0, 2.4);
    base.hfov = ((rng.chance(0.5) ? rng.range(55, 65) : rng.range(110, 125)) * Math.PI) / 180;
    base.pitch = rng.range(0.08, 0.14);
  }
  return base;
}

/** How hard it rains, per sequence (domains.ts draws it); absent in every other domain. */
export interface RainLook {
  /** Share of a mirror the wet road is at grazing angles, 0..1 (puddles are patchy). */
  sheen: number;
  /** Spray behind moving vehicles, 0..1 (opacity at 20 m/s). */
  spray: number;
  /** Light scattered by the water film on the lens: share of the frame's mean mixed in, 0..1. */
  veil: number;
  /** Patchy defocus of the water film, 0..1. */
  smear: number;
  /** Lens drop slots (drops at once); sizes scale with the image width, so the count does not. */
  drops: number;
  /** Reflectance colour of the wet road (the overcast sky near the horizon), linear RGB. */
  skyReflection: [number, number, number];
  /** Colour of lit spray, linear RGB. */
  sprayColour: [number, number, number];
}
