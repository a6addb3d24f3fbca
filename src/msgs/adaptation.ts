import type { CompressedImage, Header } from './index.js';
import type { KeyValue } from './diagnostics.js';

/** TypeScript shapes of this package's messages (msgs/msg/*.msg) as the nodes use them. */
export interface FlaggedFrame {
  header: Header;
  camera: string;
  trigger: number;
  reason: string;
  score: number;
  model_version: string;
  image: CompressedImage;
}

export interface WeightUpdate {
  header: Header;
  model_name: string;
  version: string;
  base_version: string;
  heads: string[];
  uri: string;
  size_bytes: bigint;
  sha256: string;
  key_id: string;
  signature: Uint8Array;
  new_domain_score: number;
  old_domain_score: number;
}

export interface AdaptationStatus {
  header: Header;
  model_name: string;
  serving_version: string;
  candidate_version: string;
  state: number;
  reason: string;
  flagged_frames: number;
  labelled_frames: number;
  new_domain_score: number;
  old_domain_score: number;
  serving_new_domain_score: number;
  serving_old_domain_score: number;
  metrics: KeyValue[];
}

/** AdaptationStatus.STATE_* by value. */
export const ADAPTATION_STATES = ['idle', 'collecting', 'training', 'validating', 'promoted', 'rejected', 'rolled_back', 'paused'] as const;
export type AdaptationStateLabel = (typeof ADAPTATION_STATES)[number];

export const stateLabel = (state: number): string => ADAPTATION_STATES[state] ?? `state ${state}`;
