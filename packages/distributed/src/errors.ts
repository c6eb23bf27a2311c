/**
 * Typed errors of the collectives and the data-parallel wrapper. All extend `OptError` from `@opt/tensor`, so
 * one `catch (e) { if (e instanceof OptError) … }` covers them, and each carries a stable `code`.
 *
 * @packageDocumentation
 */
import { OptError } from '@opt/tensor';

/** A collective operation did not complete within its `timeoutMs`: some ranks never arrived. */
export class CollectiveTimeoutError extends OptError {
  /** The operation, e.g. `"allReduce"`. */
  readonly op: string;
  /** The operation's sequence number on this rank (0 for the first collective call). */
  readonly step: number;
  /** Ranks whose contribution had not arrived when the time ran out (ascending). */
  readonly missingRanks: readonly number[];
  /** The bound that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  constructor(op: string, step: number, missingRanks: readonly number[], timeoutMs: number) {
    super(
      'COLLECTIVE_TIMEOUT',
      `${op} (step ${step}) timed out after ${timeoutMs} ms waiting for rank${missingRanks.length === 1 ? '' : 's'} ${missingRanks.join(', ') || '(unknown)'}`,
    );
    this.op = op;
    this.step = step;
    this.missingRanks = missingRanks;
    this.timeoutMs = timeoutMs;
  }
}

/** A peer left the group (its thread failed, its lease expired or the group was broken by another rank's failure). */
export class PeerLostError extends OptError {
  /** The lost rank, or -1 when the failing rank is not known. */
  readonly rank: number;
  /** The membership epoch in which the peer was lost. */
  readonly epoch: number;

  constructor(rank: number, epoch: number, detail = '') {
    super('PEER_LOST', `${rank >= 0 ? `rank ${rank}` : 'a peer'} left the group in epoch ${epoch}${detail ? `: ${detail}` : ''}`);
    this.rank = rank;
    this.epoch = epoch;
  }
}

/** The membership epoch changed while an operation was in flight (or before it started): its result would mix groups. */
export class EpochChangedError extends OptError {
  /** The epoch the operation started in. */
  readonly expected: number;
  /** The epoch now published. */
  readonly actual: number;

  constructor(expected: number, actual: number, op = 'collective') {
    super('EPOCH_CHANGED', `${op}: the membership epoch changed from ${expected} to ${actual}; the operation was abandoned`);
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * Why a received payload was refused: `'header'` (malformed or missing header fields), `'size'` (oversized, or a
 * length that does not match the header), `'dtype'`, `'shape'` (length or shape hash of the model differs),
 * `'checksum'`, `'non-finite'` (NaN or ±Inf), `'authentication'` (unknown or unauthorised sender), `'stale'` (computed
 * at a model version or round that is no longer accepted), `'replay'` (a message already seen), `'norm'` (above the
 * configured norm bound).
 */
export type PayloadRejection =
  | 'header'
  | 'size'
  | 'dtype'
  | 'shape'
  | 'checksum'
  | 'non-finite'
  | 'authentication'
  | 'stale'
  | 'replay'
  | 'norm';

/** A received message (or a buffer passed in) failed validation; nothing of it was used. */
export class PayloadRejectedError extends OptError {
  /** The reason, as a stable keyword. */
  readonly reason: PayloadRejection;

  constructor(reason: PayloadRejection, message: string) {
    super('PAYLOAD_REJECTED', `payload rejected (${reason}): ${message}`);
    this.reason = reason;
  }
}

/** The operation's `AbortSignal` fired; the group is unusable afterwards (its peers may be mid-operation). */
export class CollectiveAbortedError extends OptError {
  /** The operation that was aborted. */
  readonly op: string;

  constructor(op: string, reason?: unknown) {
    super('COLLECTIVE_ABORTED', `${op} was aborted${reason instanceof Error ? `: ${reason.message}` : reason !== undefined ? `: ${String(reason)}` : ''}`);
    this.op = op;
  }
}

/** The collective was used after `close()`. */
export class CollectiveClosedError extends OptError {
  constructor(op: string) {
    super('COLLECTIVE_CLOSED', `${op}: the collective is closed`);
  }
}

/** Ranks disagree on the model: the parameter shapes (or dtypes) differ between ranks. */
export class ParameterMismatchError extends OptError {
  /** Index of the first parameter whose shape differs on some rank, or -1 when only the count differs. */
  readonly index: number;
  /** Its name (or `#index`). */
  readonly parameter: string;

  constructor(index: number, parameter: string, message: string) {
    super('PARAMETER_MISMATCH', message);
    this.index = index;
    this.parameter = parameter;
  }
}
