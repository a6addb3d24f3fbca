/**
 * Ignore regions of detection ground truth, defined in camera pixels so that no metric and no
 * training target depends on the input size a frame ran at (the resolution ladder changes it):
 * a box lower than MIN_BOX_HEIGHT_FRACTION of the image height, or less visible than
 * MIN_VISIBLE (the ground truth's hypothesis score is its visible share), is neither a hit nor a
 * miss, and no training target (positive or negative) is taken from its cells. At the default
 * 192-pixel input of the synthetic-world model the height rule is the model factory's 8 pixels.
 */
export const MIN_BOX_HEIGHT_FRACTION = 8 / 192;
export const MIN_VISIBLE = 0.3;

export function isIgnoredBox(box: { readonly y0: number; readonly y1: number; readonly visibility?: number }, cameraHeight: number): boolean {
  return box.y1 - box.y0 < MIN_BOX_HEIGHT_FRACTION * cameraHeight || (box.visibility ?? 1) < MIN_VISIBLE;
}
