import { smoke } from '../src/smoke';

describe('meta-train smoke', () => {
  test('ES meta-training lowers the meta-loss and beats the untrained optimizer (Adam) on held-out quadratics', () => {
    const result = smoke(60, 0);
    expect(result.lastMetaLoss).toBeLessThan(result.firstMetaLoss - 0.2);
    expect(result.trainedHeldOut).toBeLessThan(result.untrainedHeldOut - 0.2);
  }, 60000);
});
