import { OptError } from '@opt/tensor';

/**
 * A batch reached a DP optimizer from a sampler other than the one its privacy
 * accounting assumes (Poisson batches into an optimizer set up for fixed-size
 * sampling, or the reverse), or a step was requested in the middle of a
 * logical batch: either would make the reported privacy guarantee wrong.
 */
export class SamplingMismatchError extends OptError {
  constructor(message: string) {
    super('SAMPLING_MISMATCH', message);
  }
}
