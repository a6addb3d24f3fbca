/** The synthetic driving world: seeded road scenes with exact ground truth. */
export { Simulation, resolveOptions, type SimOptions, type SimFrame, type CameraFrame } from './simulation.js';
export { type GtBox, MIN_BOX_PIXELS, MAX_OCCLUSION } from './render.js';
export { FAR as FAR_DEPTH, LANE_BG, LANE_MARK, LANE_ROAD } from './background.js';
export { DOMAINS, assertDomain, makeLook, type Domain, type Look } from './domains.js';
export {
  Camera, CAMERA_NAMES, intrinsicsFromFov, mountedCamera, rigMount,
  type CameraName, type Intrinsics, type Mount, type Projection, type Ray, type Vec3,
} from './camera.js';
export { ACTOR_CLASSES, type ActorClass } from './shapes.js';
export { World, type Scene, type Instance, type Pose } from './world.js';
export { Rng, hash32, hashUnit, deriveSeed } from './rng.js';
export { drawOverlay, CLASS_COLOURS } from './preview.js';
