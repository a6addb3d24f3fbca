import { resolve } from 'node:path';

/**
 * The package's root folder (the checkout, or share/adaptive_perception when colcon installed
 * it): this file sits in src/core/ or dist/core/, two levels below.
 */
export const PACKAGE_ROOT = resolve(import.meta.dirname, '..', '..');
/** The bundled default model package. */
export const DEFAULT_MODEL_DIR = resolve(PACKAGE_ROOT, 'models', 'default');
/** The bundled training-domain bag with ground truth: the default old-domain reference set. */
export const DEFAULT_REFERENCE_BAG = resolve(PACKAGE_ROOT, 'bags', 'day_front.mcap');
