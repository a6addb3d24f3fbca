/**
 * One error type for the whole product. Every error carries a code from a closed union,
 * the context it happened in (file, topic, message index, camera, model version, field),
 * and the underlying cause, so a log line can say where and what without a stack trace.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT' // a caller passed a value of the wrong kind or out of range
  | 'INVALID_CONFIG' // configuration failed validation (names the field)
  | 'BAG_CORRUPT' // a bag's bytes cannot be parsed
  | 'BAG_TRUNCATED' // a bag ends early
  | 'BAG_UNSUPPORTED' // a bag format or feature we do not read
  | 'UNKNOWN_MESSAGE_TYPE' // a topic whose type has no definition
  | 'MESSAGE_DECODE' // a message's bytes do not decode as its type
  | 'BAD_IMAGE' // an image whose size, step and encoding disagree
  | 'UNSUPPORTED_ENCODING' // an image encoding we cannot consume
  | 'MODEL_INVALID' // a model package that fails its manifest or hashes
  | 'MODEL_RUNTIME' // ONNX Runtime failed to load or run a model
  | 'WEIGHTS_REJECTED' // a weight update failed verification
  | 'IO'; // file system or transport failure

export interface ErrorContext {
  file?: string;
  topic?: string;
  index?: number;
  offset?: number;
  camera?: string;
  model?: string;
  field?: string;
  [key: string]: string | number | undefined;
}

export class PerceptionError extends Error {
  override readonly name = 'PerceptionError';
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(formatMessage(message, context), options);
    this.code = code;
    this.context = { ...context };
  }
}

function formatMessage(message: string, context: ErrorContext): string {
  const parts = Object.entries(context)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? `${message} [${parts.join(', ')}]` : message;
}

export function isPerceptionError(err: unknown, code?: ErrorCode): err is PerceptionError {
  return err instanceof PerceptionError && (code === undefined || err.code === code);
}
