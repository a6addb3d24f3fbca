import type { Header } from './types.js';

/** diagnostic_msgs: DiagnosticStatus levels and the message shapes the nodes publish on /diagnostics. */
export const LEVEL = { OK: 0, WARN: 1, ERROR: 2, STALE: 3 } as const;
export type Level = (typeof LEVEL)[keyof typeof LEVEL];

export interface KeyValue {
  key: string;
  value: string;
}

export interface DiagnosticStatus {
  level: Level;
  name: string;
  message: string;
  hardware_id: string;
  values: KeyValue[];
}

export interface DiagnosticArray {
  header: Header;
  status: DiagnosticStatus[];
}
