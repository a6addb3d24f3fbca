export {
  MODEL_FORMAT,
  REQUIRED_OUTPUTS,
  HEADS,
  OUTPUT_NAMES,
  validateManifest,
  tailTensorSpecs,
  tailRowWidth,
  tailOutChannels,
  type Manifest,
  type HeadName,
  type OutputName,
  type InputSize,
  type TailSpec,
  type TailLayerSpec,
  type Activation,
} from './manifest.js';
export { loadModelPackage, checkTailWeights, type ModelPackage, type TailWeights, type TailTensor } from './package.js';
